"""Viterbi decoding speed: pytorch-crf's ``decode`` against ``ConstrainedCRF.decode`` on the same emissions.

Run by hand (never by CI):  python benchmarks/crf_speed.py [--device cpu|cuda] [--repeats N]
Both decoders share the same parameters; ours runs with its BIO and predicate constraints on, as the
tagger uses it. Rows have random lengths up to T=40 words. Prints one table (median of the repeats).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torchcrf

from albert_srl.model.crf import ConstrainedCRF

ROLES = [
    *(f"ARG{i}" for i in range(6)),
    "ARGA",
    *(f"ARGM-{m}" for m in ["ADJ", "ADV", "CAU", "COM", "DIR", "DIS", "EXT", "GOL", "LOC"]),
    *(f"ARGM-{m}" for m in ["LVB", "MNR", "MOD", "NEG", "PRD", "PRP", "PRR", "REC", "TMP"]),
    *(f"C-ARG{i}" for i in range(3)),
    *(f"R-ARG{i}" for i in range(3)),
    "R-ARGM-LOC",
    "R-ARGM-TMP",
]
LABELS = ["O", "B-V", "I-V", *(f"{p}-{role}" for role in ROLES for p in "BI")]
LENGTH = 40


def median_ms(run: Callable[[], object], repeats: int, device: torch.device) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def time_batch(
    batch_size: int, ours: ConstrainedCRF, reference: torchcrf.CRF, repeats: int, device: torch.device
) -> tuple[float, float]:
    """Median ms of pytorch-crf's and our decode on one random batch ``(batch_size, T, L)``."""
    emissions = torch.randn(batch_size, LENGTH, len(LABELS), device=device)
    lengths = torch.randint(1, LENGTH + 1, (batch_size,), device=device)
    mask = torch.arange(LENGTH, device=device) < lengths.unsqueeze(1)
    predicates = (torch.rand(batch_size, device=device) * lengths).long()
    with torch.inference_mode():
        theirs_ms = median_ms(lambda: reference.decode(emissions, mask), repeats, device)
        ours_ms = median_ms(lambda: ours.decode(emissions, mask, predicates), repeats, device)
    return theirs_ms, ours_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256, 1024])
    args = parser.parse_args()
    device = torch.device(args.device)

    torch.manual_seed(0)
    ours = ConstrainedCRF(LABELS).to(device)
    reference = torchcrf.CRF(len(LABELS), batch_first=True).to(device)
    reference.load_state_dict(ours.state_dict())

    print(f"device: {device}  labels: {len(LABELS)}  T: {LENGTH}  threads: {torch.get_num_threads()}")
    print("| batch size | pytorch-crf (ms) | ours (ms) | speed-up |")
    print("| ---: | ---: | ---: | ---: |")
    for batch_size in args.batch_sizes:
        theirs_ms, ours_ms = time_batch(batch_size, ours, reference, args.repeats, device)
        print(f"| {batch_size} | {theirs_ms:.1f} | {ours_ms:.1f} | {theirs_ms / ours_ms:.1f}x |")


if __name__ == "__main__":
    main()
