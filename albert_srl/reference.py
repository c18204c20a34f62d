"""``docs/configuration.md``: the reference page of every setting, generated from the declarations.

Regenerate it with ``python -m albert_srl.reference > docs/configuration.md``; ``tests/test_settings.py``
fails while the page and the declarations differ.
"""

from __future__ import annotations

from albert_srl.config import (
    LabelOptions,
    PretrainConfig,
    ServeAddress,
    SpacyOptions,
    TagOptions,
    TrainConfig,
    TuneOptions,
)
from albert_srl.model.network import EncoderChecks, ModelConfig
from albert_srl.serving.batching import ServeLimits
from albert_srl.settings import reference_markdown

TITLE = "Configuration reference"
INTRO = (
    "Every setting of albert-srl, generated from its one declaration (`albert_srl/settings.py`, "
    "docs/design.md): `python -m albert_srl.reference > docs/configuration.md` writes this page, and a "
    "test fails while it is out of date. A YAML config and `--set key=value` take the dotted keys below; "
    "a command-line flag is the key's last part with dashes (`batch_words` is `--batch-words`). A value "
    "out of its range is one error naming the file, the line and the key (exit 2)."
)
SECTIONS: list[tuple[str, str, type]] = [
    (
        "Training: `albert-srl train CONFIG`",
        "The keys of a training config (configs/*.yaml); `--max-minutes` sets `max_minutes`.",
        TrainConfig,
    ),
    (
        "Pretraining: `albert-srl pretrain CONFIG`",
        "The keys of a pretraining config (docs/pretraining.md); `--max-minutes` sets `max_minutes`.",
        PretrainConfig,
    ),
    (
        "Tagging: `albert-srl tag`",
        "Flags of `tag`; `SRLTagger.tag_stream` takes the same values.",
        TagOptions,
    ),
    (
        "Silver labelling: `albert-srl label`",
        "Flags of `label` (docs/silver.md); `albert_srl.tagging.label.label` takes the same values.",
        LabelOptions,
    ),
    (
        'spaCy: `nlp.add_pipe("albert_srl", config={...})`',
        "The config of the `albert_srl` component (docs/api.md); a pipeline saved by `nlp.to_disk` keeps it.",
        SpacyOptions,
    ),
    (
        "Tuning: `albert-srl tune CONFIG --space SPACE`",
        "Flags of `tune` (docs/tuning.md); a search space's keys are the training keys above, and its "
        "bounds and choices are checked against their declarations.",
        TuneOptions,
    ),
    ("Serving: where `albert-srl serve` listens", "Flags of `serve` (docs/serving.md).", ServeAddress),
    (
        "Serving: `ServeLimits`",
        "Flags of `serve`, and the fields of `albert_srl.serving.serve.ServeLimits`.",
        ServeLimits,
    ),
    (
        "Model directory: `config.json`, section `srl`",
        "What a model directory records (`ModelConfig`); the keys it shares with a training config have "
        "the same ranges. Its `encoder` section is the encoder's Hugging Face config: its sizes are checked "
        "with the ranges of the training config's `encoder` keys, and the keys below too.",
        ModelConfig,
    ),
    (
        "Model directory: `config.json`, section `encoder`",
        "Keys checked beside the sizes before `transformers` reads them; other keys pass through.",
        EncoderChecks,
    ),
]


def page() -> str:
    return reference_markdown(TITLE, INTRO, SECTIONS)


if __name__ == "__main__":
    print(page(), end="")
