"""The pretrained encoder as a Hugging Face ALBERT model directory: weights, tokenizer and model card.

``export_encoder`` serves any way of making an encoder (MLM + SOP pretraining here; other recipes that
write into an ALBERT's weights can call it the same way). Beside the weights, ``pretraining.json`` says
what the encoder has been trained on so far: pretraining can continue from an exported encoder, and the
steps, tokens and seconds add up from run to run (``read_record``, ``add_run``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from transformers import PretrainedConfig, PreTrainedModel

from albert_srl.config import PretrainConfig
from albert_srl.files import commit
from albert_srl.model.tokenizer import Tokenizer
from albert_srl.pretraining.state import PretrainState

log = logging.getLogger(__name__)


RECORD = "pretraining.json"


TOKENIZER_FILES = ("spiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def export_encoder(
    model: PreTrainedModel,
    tokenizer: Tokenizer,
    card: str,
    output: str | Path,
    record: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` (an ``AlbertForPreTraining`` or ``AlbertModel``) into ``output`` as an HF model
    directory: bf16 weights in files under 16 MiB, the tokenizer's files, ``card`` as README.md and
    ``record`` (``read_record``'s layout; when given) as ``pretraining.json``.

    ``config.json`` says float32, so ``from_pretrained`` loads the weights as float32 for fine-tuning.
    The files are written aside and renamed into place; other files in ``output`` stay.
    """
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-export-", dir=out))
    # Parameters only: a tied weight is written once and tied again by ``from_pretrained``.
    weights = {name: tensor.detach().to(torch.bfloat16) for name, tensor in model.named_parameters()}
    model.save_pretrained(staging, state_dict=weights, max_shard_size="15MB")
    settings = json.loads((staging / "config.json").read_text(encoding="utf-8"))
    settings["dtype"] = "float32"
    (staging / "config.json").write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    # The tokenizer's own files only: when pretraining continues an encoder, its directory is also the
    # tokenizer's, and its weights, config and card must not overwrite the new ones.
    for name in TOKENIZER_FILES:
        path = Path(tokenizer.name_or_path) / name
        if path.is_file():
            shutil.copy2(path, staging / name)
    (staging / "README.md").write_text(card, encoding="utf-8")
    if record is not None:
        (staging / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    for path in staging.iterdir():
        commit(path, out / path.name)
    staging.rmdir()
    log.info("pretrained ALBERT written to %s", out)
    return out


def read_record(directory: str | Path) -> dict[str, Any]:
    """What an encoder directory has been trained on: ``{"steps", "tokens_seen", "seconds", "runs"}``,
    from its ``pretraining.json``; an older export without one is read from its card's table (steps and
    tokens seen); anything else (another recipe's encoder) has seen nothing yet."""
    path = Path(directory)
    if (path / RECORD).exists():
        return json.loads((path / RECORD).read_text(encoding="utf-8"))
    card = path / "README.md"
    text = card.read_text(encoding="utf-8", errors="replace") if card.exists() else ""
    numbers = {
        key: int(match.group(1).replace(",", ""))
        for key, row in (("steps", "optimizer steps"), ("tokens_seen", "tokens seen"))
        if (match := re.search(rf"^\| {row} \| ([\d,]+) \|", text, re.MULTILINE))
    }
    runs = [{"kind": "mlm+sop", **numbers}] if numbers else []
    return {"steps": 0, "tokens_seen": 0, "seconds": 0.0, **numbers, "runs": runs}


def add_run(previous: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """``previous`` (``read_record``) with one more run: its steps, tokens and seconds added to the totals."""
    return {
        "steps": previous.get("steps", 0) + run["steps"],
        "tokens_seen": previous.get("tokens_seen", 0) + run["tokens_seen"],
        "seconds": round(previous.get("seconds", 0.0) + run["seconds"], 1),
        "runs": [*previous.get("runs", []), run],
    }


def encoder_card(
    config: PretrainConfig, state: PretrainState, albert: PretrainedConfig, record: dict[str, Any]
) -> str:
    """The README.md of a pretrained encoder: data, licences, size, what it saw (this run and, for a
    continued encoder, in all: ``record``) and how well it did."""
    last, held = state.last, state.held_out
    source = config.encoder.pretrained
    started = (
        f"Training continued from the encoder in `{source}` (its vocabulary and sizes), which had seen"
        f" {record['tokens_seen'] - state.tokens_seen:,} tokens in"
        f" {record['steps'] - state.step:,} optimizer steps."
        if source
        else "An ALBERT encoder trained from scratch"
    )
    totals = (
        f"| optimizer steps, in all | {record['steps']:,} |\n"
        f"| tokens seen, in all | {record['tokens_seen']:,} |\n"
        if source
        else ""
    )
    return f"""# ALBERT pretrained by albert-srl (MLM + sentence-order prediction)

{started} with `albert-srl pretrain` (`transformers.AlbertForPreTraining`):
n-gram masked language modelling (n <= {config.max_ngram}, {config.mask_prob:.0%} of tokens) and
sentence-order prediction on segment pairs of up to {config.max_length} subwords.
Fine-tune it with `albert-srl train` by setting `encoder.pretrained` to this directory; continue its
pretraining by setting `encoder.pretrained` in a pretraining config. `pretraining.json` records every run.

| | |
| --- | --- |
| embedding / hidden / layers (groups) / heads / FFN | {albert.embedding_size} / {albert.hidden_size} / \
{albert.num_hidden_layers} ({albert.num_hidden_groups}) / {albert.num_attention_heads} / \
{albert.intermediate_size} |
| vocabulary | {albert.vocab_size} SentencePiece unigram pieces |
| optimizer steps | {state.step:,} |
| tokens seen | {state.tokens_seen:,} |
{totals}| training wall time | {state.seconds / 3600:.2f} h |
| MLM / SOP accuracy, held-out documents | {held.get("mlm_accuracy", math.nan):.4f} / \
{held.get("sop_accuracy", math.nan):.4f} |
| MLM / SOP accuracy, last {config.log_every} training steps | {last.get("mlm_accuracy", math.nan):.4f} / \
{last.get("sop_accuracy", math.nan):.4f} |
{_stop_note(config, state)}
## Data

{data_section(config)}
## Settings

```json
{json.dumps(dataclasses.asdict(config), indent=2)}
```
"""


def data_section(config: PretrainConfig) -> str:
    """The text the encoder learnt from, as the config names it; no licence is claimed for it unless
    ``text_source`` states one."""
    sources = "\n".join(f"- `{p}`" for p in config.text_paths)
    sources += "".join(f"\n- `{p}` (its sentences, a document per CoNLL document)" for p in config.text_conll)
    conll = "".join(f"\n- `{p}` (words only: vocabulary and word2vec)" for p in config.vocab_conll)
    layout = (
        "Each blank-line-separated document's first line is a title and was left out."
        if config.title_lines
        else "Every non-blank line is a paragraph; blank lines separate documents."
    )
    source = (
        config.text_source
        if config.text_source
        else "Its source and licence are not recorded in the config (`text_source`)."
    )
    vocabulary = (
        "\nThe vocabulary also saw the words of the CoNLL training files listed above; their licence"
        " applies too (the English Web Treebank PropBank data: CC BY-SA 4.0).\n"
        if config.vocab_conll or config.text_conll
        else ""
    )
    return f"{sources}{conll}\n\n{layout} {source}\n{vocabulary}"


def _stop_note(config: PretrainConfig, state: PretrainState) -> str:
    if not state.out_of_time:
        return ""
    return (
        f"\nTraining stopped on its time budget (`max_minutes` = {config.max_minutes:g}) at step"
        f" {state.step:,} of {config.max_steps:,}; running `albert-srl pretrain` again goes on from there.\n"
    )
