"""The one way albert-srl opens a file: gzip recognised by content when reading, by a ``.gz`` name when
writing, ``-`` for the standard streams, and every unreadable file reported as ``SRLFormatError``.

Every reader of the project (the format readers, the scorer's props reader, raw text for ``tag``, the
pretraining text) comes through ``open_binary`` or ``read_lines``; every writer through ``open_output``.
"""

from __future__ import annotations

import gzip
import io
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, BinaryIO, TextIO

from albert_srl.errors import SRLFormatError

PathOrStream = str | Path | IO[str]
GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: str | Path) -> bool:
    """Whether the file's content is gzip, whatever its name."""
    with open(path, "rb") as raw:
        return raw.read(2) == GZIP_MAGIC


def open_binary(path: str | Path) -> BinaryIO:
    """``path`` as a byte stream, gunzipped when its content is gzip (whatever its name)."""
    raw = open(path, "rb")  # noqa: SIM115 - handed to the caller, who closes it
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return raw


def read_lines(path: str | Path, errors: str = "strict") -> Iterator[str]:
    """The lines of a UTF-8 file (plain or gzip) without their line ends, streamed.

    Non-UTF-8 bytes (with ``errors="strict"``) and a damaged gzip stream raise ``SRLFormatError`` naming
    the file (and the line of the bad byte); ``errors="replace"`` reads bad bytes as U+FFFD instead.
    """
    try:
        with (
            open_binary(path) as binary,
            io.TextIOWrapper(binary, encoding="utf-8-sig", errors=errors, newline="\n") as text,
        ):
            for line in text:
                yield line.rstrip("\r\n")
    except UnicodeDecodeError:
        line, message = bad_byte(path)
        raise SRLFormatError(str(path), line, message) from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise SRLFormatError(str(path), None, f"damaged gzip file ({error})") from None


def bad_byte(path: str | Path) -> tuple[int | None, str]:
    """The 1-based line of the first byte that is not UTF-8, and a message naming it.

    Found by a second pass so that reading well-formed files pays nothing for it.
    """
    with open_binary(path) as binary:
        for number, raw in enumerate(binary, start=1):
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


@contextmanager
def open_output(target: PathOrStream) -> Iterator[TextIO]:
    """A UTF-8 text stream to write to: a path (gzip when it ends in ``.gz``), ``"-"`` for standard
    output (left open), or an open text stream (left open)."""
    if not isinstance(target, str | Path):
        yield target  # type: ignore[misc]
    elif str(target) == "-":
        yield sys.stdout
    elif str(target).endswith(".gz"):
        with gzip.open(target, "wt", encoding="utf-8", newline="\n") as stream:
            yield stream  # type: ignore[misc]
    else:
        with open(target, "w", encoding="utf-8", newline="\n") as stream:
            yield stream
