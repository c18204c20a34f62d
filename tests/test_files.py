"""The one atomic write: a file or a directory is whole or absent, never half-written, and never private."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from albert_srl import files
from albert_srl.files import replaced, write_atomic


def plain_mode(directory: bool) -> int:
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def test_write_atomic_replaces_a_file_whole_and_leaves_nothing_beside_it(tmp_path: Path) -> None:
    target = tmp_path / "metrics.jsonl"
    target.write_text("old\n")
    assert write_atomic(target, "new\n") == target
    assert target.read_text() == "new\n"
    write_atomic(tmp_path / "fresh.bin", b"\x00\x01")
    assert (tmp_path / "fresh.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "fresh.bin").stat().st_mode & 0o777 == plain_mode(directory=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.bin", "metrics.jsonl"]


def test_a_directory_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "best"
    target.mkdir()
    (target / "stale.txt").write_text("from the last run")
    with replaced(target, directory=True) as staging:
        assert staging.parent == tmp_path and staging.name.startswith(".best-")
        (staging / "config.json").write_text("{}")
    assert [p.name for p in target.iterdir()] == ["config.json"]
    assert target.stat().st_mode & 0o777 == plain_mode(directory=True)
    assert [p.name for p in tmp_path.iterdir()] == ["best"]


def test_an_error_while_writing_leaves_the_target_as_it_was(tmp_path: Path) -> None:
    target = tmp_path / "tokenizer"
    target.mkdir()
    (target / "spiece.model").write_text("the old vocabulary")
    with pytest.raises(KeyboardInterrupt), replaced(target, directory=True) as staging:
        (staging / "spiece.model").write_text("half")
        raise KeyboardInterrupt
    assert (target / "spiece.model").read_text() == "the old vocabulary"
    assert [p.name for p in tmp_path.iterdir()] == ["tokenizer"]


def test_a_failed_rename_leaves_the_target_and_no_staging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "best.yaml"
    target.write_text("epochs: 3\n")

    def refuse(source: object, destination: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, "epochs: 4\n")
    assert target.read_text() == "epochs: 3\n"
    assert [p.name for p in tmp_path.iterdir()] == ["best.yaml"]


def test_the_data_is_flushed_before_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []
    monkeypatch.setattr(files, "fsync", lambda path: order.append(f"fsync {Path(path).name}"))
    real_replace = os.replace
    monkeypatch.setattr(
        files.os, "replace", lambda a, b: (order.append(f"rename {Path(b).name}"), real_replace(a, b))
    )
    with replaced(tmp_path / "ckpt", directory=True) as staging:
        (staging / "model.safetensors").write_bytes(b"weights")
    assert order.index("fsync model.safetensors") < order.index("rename ckpt")
    assert order[-1] == f"fsync {tmp_path.name}"  # the directory entry too
