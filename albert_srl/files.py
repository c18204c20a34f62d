"""The one way albert-srl opens a file: gzip recognised by content when reading, by a ``.gz`` name when
writing, ``-`` for the standard streams, and every unreadable file reported as ``SRLFormatError``.

Every reader of the project (the format readers, the scorer's props reader, raw text for ``tag``, the
pretraining text) comes through ``open_binary`` or ``read_lines``; every writer through ``open_output``,
which writes a temporary file beside the target and renames it into place, so that an output named like
one of the inputs (``refuse_input_as_output``) or a reader of the output never sees it half-written.
Every other file or directory (models, checkpoints, metrics, reports) is written the same way, through
``write_atomic`` or ``replaced``, flushed to disk before the rename.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import stat
import sys
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO, TextIO

from albert_srl.errors import SRLFormatError

PathOrStream = str | Path | IO[str]
GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: str | Path) -> bool:
    """Whether the file's content is gzip, whatever its name."""
    with open(path, "rb") as raw:
        return raw.read(2) == GZIP_MAGIC


GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


class CheckedGzipFile(gzip.GzipFile):
    """A ``GzipFile`` whose damaged or truncated data raises ``SRLFormatError`` naming the file, after
    every byte that could be decompressed has been returned (so a truncated file keeps its lines)."""

    def __init__(self, path: str | Path, raw: BinaryIO) -> None:
        super().__init__(fileobj=raw)
        self.path = str(path)
        self.raw_file = raw  # GzipFile leaves a given file object open; this one is ours to close

    def _checked(self, method: Any, *args: Any) -> Any:
        try:
            return method(*args)
        except GZIP_ERRORS as error:
            raise SRLFormatError(self.path, None, f"damaged gzip file ({error})") from None

    def read(self, size: int | None = -1) -> bytes:
        return self._checked(super().read, size)

    def read1(self, size: int = -1) -> bytes:
        return self._checked(super().read1, size)

    def readline(self, size: int | None = -1) -> bytes:
        return self._checked(super().readline, size)

    def peek(self, n: int) -> bytes:
        return self._checked(super().peek, n)

    def close(self) -> None:
        super().close()
        self.raw_file.close()


def open_binary(path: str | Path) -> BinaryIO:
    """``path`` as a byte stream, gunzipped when its content is gzip (whatever its name). A damaged gzip
    stream raises ``SRLFormatError`` naming the file when the damage is reached."""
    raw = open(path, "rb")  # noqa: SIM115 - handed to the caller, who closes it
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return CheckedGzipFile(path, raw)  # type: ignore[return-value]
    return raw


def read_lines(path: str | Path, errors: str = "strict") -> Iterator[str]:
    """The lines of a UTF-8 file (plain or gzip) without their line ends, streamed. A line ends at a line
    feed, a CR LF or a lone carriage return (Python's universal newlines: old Mac files are lines too).

    Non-UTF-8 bytes (with ``errors="strict"``) and a damaged gzip stream raise ``SRLFormatError`` naming
    the file (and the line of the bad byte); ``errors="replace"`` reads bad bytes as U+FFFD instead.
    """
    try:
        with (
            open_binary(path) as binary,
            io.TextIOWrapper(binary, encoding="utf-8-sig", errors=errors, newline=None) as text,
        ):
            for line in text:
                yield line.rstrip("\n").removeprefix("\ufeff")  # a BOM on any line: concatenated files
    except UnicodeDecodeError:
        number, message = bad_byte(path)
        raise SRLFormatError(str(path), number, message) from None
    except GZIP_ERRORS as error:
        raise SRLFormatError(str(path), None, f"damaged gzip file ({error})") from None


def parse_json(text: str, path: str | Path, line: int | None = None) -> Any:
    """``json.loads`` whose failures, JSON nested too deeply for Python's recursion included, raise
    ``SRLFormatError`` naming the file (and line)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise SRLFormatError(str(path), line, f"not valid JSON: {error}") from None
    except RecursionError:
        raise SRLFormatError(str(path), line, "JSON nested too deeply") from None


def bad_byte(path: str | Path) -> tuple[int | None, str]:
    """The 1-based line of the first byte that is not UTF-8, and a message naming it.

    Found by a second pass so that reading well-formed files pays nothing for it.
    """
    with open_binary(path) as binary:
        lines = (line for raw in binary for line in raw.replace(b"\r\n", b"\n").split(b"\r"))  # as read
        for number, raw in enumerate(lines, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                byte = raw[error.start]
                return number, f"not UTF-8 text: byte 0x{byte:02x} at column {error.start + 1}"
    return None, "not UTF-8 text (a multi-byte character is cut off at the end of the file)"


def uncompressed_size(path: str | Path) -> int:
    """Bytes of the file's text: its size, or for gzip content the size stored in the gzip trailer
    (modulo 4 GiB, which only changes how evenly a huge file is sharded)."""
    if not is_gzip(path):
        return Path(path).stat().st_size
    with open(path, "rb") as raw:
        raw.seek(-4, 2)
        return int.from_bytes(raw.read(4), "little")


def refuse_input_as_output(output: PathOrStream, inputs: Iterable[str | Path]) -> None:
    """Raise ``SRLFormatError`` when ``output`` is one of ``inputs``: the same file, by any name (links
    and hard links included), so that writing can never destroy what is being read."""
    if not isinstance(output, str | Path) or str(output) == "-" or not os.path.exists(output):
        return
    for path in inputs:
        if str(path) == "-":  # ``tag -o t.txt < t.txt``: the shell opened the file, under no name
            if stdin_is(output):
                raise SRLFormatError(str(output), None, "is the standard input: refusing to overwrite it")
        elif os.path.exists(path) and os.path.samefile(output, path):
            raise SRLFormatError(str(output), None, f"is the input {path}: refusing to overwrite it")


def stdin_is(path: str | Path) -> bool:
    """Whether standard input is the file at ``path`` (same device and inode)."""
    try:
        opened = os.fstat(sys.stdin.fileno())
    except (AttributeError, OSError, ValueError):  # no descriptor: closed, or a stream put in its place
        return False
    return os.path.samestat(opened, os.stat(path))


def file_kind(path: str | Path) -> str | None:
    """What ``path`` is when it is there but no regular file, for a message: ``"a directory"``, ``"a FIFO
    (named pipe)"``, ``"a socket"``, ``"a device"``; ``None`` for a regular file or nothing at all.
    Reading a FIFO or a device can wait for ever, so such a path is refused before it is opened."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    return "a socket" if stat.S_ISSOCK(mode) else "a device"


def refuse_special_files(directory: str | Path) -> None:
    """Refuse a directory (a model's, an encoder's) holding a FIFO, socket or device where a file belongs,
    before anything in it is opened: reading one can wait for ever (a ``model.safetensors`` that was a
    FIFO hung ``tag`` and ``predict``)."""
    folder = Path(directory)
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        kind = file_kind(entry)
        if kind is not None and kind != "a directory":
            raise SRLFormatError(str(entry), None, f"{kind}, not a regular file: refusing to read it")


def refuse_output_directory(output: str | Path, sources: Sequence[str | Path], force: bool = False) -> None:
    """Raise ``SRLFormatError`` naming ``output`` unless a command may write the directory there: it must
    not be one of ``sources``, inside one or (to be replaced) hold one, nor a link or a file; and it must
    be new or empty, unless ``force`` lets the command replace it whole (through ``replaced``)."""
    target = Path(output)
    if target.is_symlink():
        raise SRLFormatError(str(target), None, "is a symbolic link: name the directory itself")
    if target.exists() and not target.is_dir():
        kind = file_kind(target) or "a file"
        raise SRLFormatError(str(target), None, f"is {kind}, not a directory: refusing to replace it")
    where = target.resolve()
    for source in sources:
        origin = Path(source).resolve()
        if where == origin or origin in where.parents:
            inside = "is" if where == origin else "is inside"
            raise SRLFormatError(str(target), None, f"{inside} the source {source}: refusing to write there")
        if where in origin.parents:
            raise SRLFormatError(str(target), None, f"holds the source {source}: refusing to replace it")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise SRLFormatError(
            str(target), None, "is not empty: refusing to write into it (force, --force, replaces it whole)"
        )


@contextmanager
def open_output(target: PathOrStream) -> Iterator[TextIO]:
    """A UTF-8 text stream to write to: a path (gzip when it ends in ``.gz``), ``"-"`` for standard
    output (left open), or an open text stream (left open).

    A path is written through a temporary file in its folder, renamed onto it when the block ends, also
    when it ends with an exception, so that what was written before a bad record is kept; a killed
    process leaves the target as it was (and a ``.NAME.*.tmp`` file beside it).
    """
    if not isinstance(target, str | Path):
        yield target  # type: ignore[misc]
        return
    if str(target) == "-":
        yield sys.stdout
        return
    final = Path(target)
    if final.is_dir():
        raise SRLFormatError(str(final), None, "is a directory, not an output file")
    fd, temporary = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent or ".")
    try:
        with open(fd, "wb") as raw:
            if final.name.endswith(".gz"):
                with (
                    gzip.GzipFile(fileobj=raw, mode="wb", filename="") as binary,
                    io.TextIOWrapper(binary, encoding="utf-8", newline="\n") as stream,
                ):
                    yield stream
            else:
                with io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as stream:
                    yield stream
    finally:
        if os.path.exists(temporary):
            commit(Path(temporary), final)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------------------------------------------
# atomic writes: every file or directory albert-srl writes is written aside and renamed into place


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` whole or not at all: a reader, another worker or a
    killed run never sees half a file."""
    target = Path(path)
    with replaced(target) as staging:
        staging.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return target


@contextmanager
def replaced(target: str | Path, directory: bool = False) -> Iterator[Path]:
    """A staging path beside ``target`` (an empty directory with ``directory``, else a file) to write
    into; when the block ends it is flushed to disk and renamed onto ``target`` (a directory there is
    replaced). When the block raises, the staging path is removed and ``target`` is left as it was."""
    final = Path(target)
    final.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{final.name}-"
    if directory:
        staging = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=final.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=final.parent)
        os.close(fd)
        staging = Path(name)
    try:
        yield staging
    except BaseException:  # an error or an interrupt: nothing half-written stays behind
        remove(staging)
        raise
    try:
        commit(staging, final)
    except OSError:
        remove(staging)
        raise


def commit(staging: Path, target: Path) -> None:
    """Rename ``staging`` (a file, or a directory of files) onto ``target``: its data flushed first and the
    rename after, so that a crash leaves the old or the new, never a half; permissions as a plain write
    would give (temporary files and folders are created private)."""
    mode = 0o777 if staging.is_dir() else 0o666
    os.chmod(staging, target.stat().st_mode & 0o7777 if target.exists() else mode & ~current_umask())
    for path in [*staging.rglob("*"), staging] if staging.is_dir() else [staging]:
        if path.is_file() or path == staging:
            fsync(path)
    if target.is_dir() and not target.is_symlink():
        remove(target)
    os.replace(staging, target)
    fsync(target.parent)


def fsync(path: Path) -> None:
    """Flush a file or a directory entry to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
