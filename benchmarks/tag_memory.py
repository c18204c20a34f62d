"""Memory of `albert-srl tag` on a 1 GB text file: does it stay flat while the input streams through?

Run by hand (never by CI):
    python benchmarks/tag_memory.py [--model DIR] [--size-mb 1024] [--seconds 300] [--every 30]
Writes a text file of --size-mb MB (EWT dev sentences, repeated, five a paragraph) to a temporary
directory, starts `albert-srl tag FILE -o OUT --quiet` on it, and every --every seconds prints the
process's resident memory (current and peak), the input bytes it has read and the sentences it has
written. A CPU tags the whole gigabyte in days, not minutes, so the run is stopped after --seconds: what
matters is that memory does not grow with what has been read and written.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from albert_srl.formats import read

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "ewt" / "dev.gold_conll.gz"


def write_big_text(path: Path, size_mb: int) -> None:
    sentences = [" ".join(s.words) for s in read(SHARED)]
    paragraphs = [" ".join(sentences[i : i + 5]) for i in range(0, len(sentences), 5)]
    block = ("\n\n".join(paragraphs) + "\n\n").encode("utf-8")
    with open(path, "wb") as out:
        for _ in range(size_mb * 2**20 // len(block) + 1):
            out.write(block)


def proc_status(pid: int, input_path: Path) -> dict[str, float]:
    """VmRSS / VmHWM in MiB and the read position in ``input_path`` (MiB) of a running process, from /proc."""
    values: dict[str, float] = {"read_mb": 0.0}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) // 1024
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if Path(fd.readlink()) == input_path:
                pos = Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text().split()[1]
                values["read_mb"] = int(pos) / 2**20
        except OSError:  # the descriptor closed meanwhile
            continue
    return values


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="model directory (default: the shipped model)")
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--every", type=float, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        big, out = Path(scratch) / "big.txt", Path(scratch) / "out.jsonl"
        write_big_text(big, args.size_mb)
        command = [sys.executable, "-m", "albert_srl.cli", "tag", str(big), "-o", str(out), "--quiet"]
        command += ["--format", "jsonl"] + (["--model", args.model] if args.model else [])
        process = subprocess.Popen(command, stderr=subprocess.DEVNULL)  # long-word warnings
        print(f"input: {big.stat().st_size / 2**20:,.0f} MiB of text; stopped after {args.seconds:.0f} s\n")
        print("| seconds | sentences written | input read (MiB) | RSS (MiB) | peak RSS (MiB) |")
        print("| ---: | ---: | ---: | ---: | ---: |")
        started = time.monotonic()
        try:
            while process.poll() is None and time.monotonic() - started < args.seconds:
                time.sleep(args.every)
                status = proc_status(process.pid, big)
                with open(out, "rb") as written:
                    lines = sum(1 for _ in written)
                print(
                    f"| {time.monotonic() - started:.0f} | {lines:,} | {status['read_mb']:.2f} | "
                    f"{status['VmRSS']:,.0f} | {status['VmHWM']:,.0f} |",
                    flush=True,
                )
        finally:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
