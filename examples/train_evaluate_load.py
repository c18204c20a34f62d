"""Train a model on a CoNLL file, score it on another one as srl-eval.pl does, and load it to tag text.

    python examples/train_evaluate_load.py TRAIN DEV OUTPUT_DIR [CONFIG]

TRAIN and DEV are CoNLL-2012 (or CoNLL-2005, CoNLL-U PropBank, jsonl) files; the defaults are the sample
in corpora/ and a seconds-long run of configs/tiny.yaml, so the example runs anywhere. For a real model:
    python examples/train_evaluate_load.py ../shared/corpora/ewt/train.gold_conll.gz \\
        ../shared/corpora/ewt/dev.gold_conll.gz runs/ewt configs/ewt.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path

from albert_srl import SRLTagger, read, write
from albert_srl.config import load_config
from albert_srl.scorer import format_report, score_files
from albert_srl.training import train

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "corpora" / "sample.gold_conll"


def main() -> None:
    args = sys.argv[1:]
    train_path = args[0] if len(args) > 0 else str(SAMPLE)
    dev_path = args[1] if len(args) > 1 else str(SAMPLE)
    output = Path(args[2] if len(args) > 2 else "runs/example")
    config_path = args[3] if len(args) > 3 else str(REPO / "configs" / "tiny.yaml")

    # 1. Train: the YAML config, with keys overridden as `albert-srl train --set` does.
    overrides = [f"train_path={train_path}", f"dev_path={dev_path}", f"output_dir={output}"]
    best = train(load_config(config_path, overrides))  # the directory of the best epoch's model

    # 2. Evaluate: tag the dev file with its gold predicates, then score it like srl-eval.pl.
    tagger = SRLTagger.from_pretrained(best)
    predicted = output / "dev.pred.gold_conll"
    write(tagger.tag_conll(read(dev_path)), predicted, "conll12")
    print(format_report(score_files(dev_path, predicted)))

    # 3. Load and use: the saved directory is a complete model.
    for frame in SRLTagger.from_pretrained(best).tag("The judges ruled on the case.")[0].frames:
        print(frame.predicate.sense, frame.tuples())


if __name__ == "__main__":
    main()
