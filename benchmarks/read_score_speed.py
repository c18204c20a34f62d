"""Reader and scorer speed: read EWT train, then score it against itself.

Run by hand (never by CI):  python benchmarks/read_score_speed.py [PATH]
Prints one table: wall time and peak memory (RSS) of each step.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

from albert_srl.formats import read
from albert_srl.scorer import score

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "ewt" / "train.gold_conll.gz"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    start = time.perf_counter()
    sentences = list(read(path))
    read_s = time.perf_counter() - start
    read_rss = peak_rss_mib()
    predicates = sum(len(s.frames) for s in sentences)

    start = time.perf_counter()
    result = score(sentences, sentences)
    score_s = time.perf_counter() - start

    print(f"file: {path}  ({len(sentences):,} sentences, {predicates:,} predicates)")
    print("| step | wall time (s) | sentences/s | peak RSS (MiB) |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| read | {read_s:.2f} | {len(sentences) / read_s:,.0f} | {read_rss:.0f} |")
    print(
        f"| score against itself (F1 {result.f1:.2f}) | {score_s:.2f} | "
        f"{len(sentences) / score_s:,.0f} | {peak_rss_mib():.0f} |"
    )


if __name__ == "__main__":
    main()
