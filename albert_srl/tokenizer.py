"""SentencePiece vocabularies in the Hugging Face ALBERT tokenizer layout.

A tokenizer is always loaded from a directory with ``AlbertTokenizer.from_pretrained(dir)``: building
one from a bare ``vocab_file`` silently gives a 5-token vocabulary in transformers 5, and without the
``protobuf`` package every word becomes ``<unk>`` (see DESIGN.md).
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm
from transformers import AlbertTokenizer, PreTrainedTokenizerBase

from albert_srl.errors import SRLFormatError

log = logging.getLogger(__name__)

# albert-base-v2's special pieces and ids: <pad>=0, <unk>=1, [CLS]=2, [SEP]=3, [MASK]=4.
SPECIAL_TOKENS = {
    "pad_token": "<pad>",
    "unk_token": "<unk>",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
}


def train_sentencepiece(
    lines: Iterable[str],
    out_dir: str | Path,
    vocab_size: int = 8000,
    lowercase: bool = False,
    input_sentence_size: int = 2_000_000,
    source: str = "<text>",
) -> Path:
    """Train a unigram SentencePiece model on ``lines`` and write an ALBERT tokenizer directory.

    Returns ``out_dir``, which ``load_tokenizer`` (and ``AlbertTokenizer.from_pretrained``) reads.
    ``vocab_size`` is an upper bound on tiny corpora (``hard_vocab_limit=False``). Text SentencePiece
    cannot learn that vocabulary from (no text, or more distinct characters than ``vocab_size`` pieces
    can hold, as in Chinese with a small vocabulary) raises ``SRLFormatError`` naming ``source``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        prefix = Path(scratch) / "spiece"
        try:
            _train_unigram(lines, prefix, vocab_size, lowercase, input_sentence_size)
        except RuntimeError as error:
            raise SRLFormatError(source, None, _training_failure(str(error), vocab_size)) from None
        (out / "spiece.model").write_bytes(prefix.with_suffix(".model").read_bytes())
    config = {
        "tokenizer_class": "AlbertTokenizer",
        "do_lower_case": lowercase,
        "keep_accents": True,
        "remove_space": True,
        "model_max_length": 512,
        **SPECIAL_TOKENS,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (out / "special_tokens_map.json").write_text(
        json.dumps(SPECIAL_TOKENS, indent=2) + "\n", encoding="utf-8"
    )
    # Save the converted fast tokenizer too (tokenizer.json), so later loads skip the conversion.
    load_tokenizer(out).save_pretrained(out)
    return out


def _training_failure(error: str, vocab_size: int) -> str:
    """SentencePiece's complaint (``INTERNAL: trainer.cc(638) [check] Reason.``) in the project's words."""
    reason = re.sub(r"^.*\] ", "", error.strip().splitlines()[-1] if error.strip() else "no text")
    too_many = re.search(r"smaller than required_chars\. \d+ vs (\d+)", reason)
    if too_many:
        return (
            f"its text has {too_many.group(1)} distinct characters, more than a {vocab_size}-piece"
            f" vocabulary can hold: set encoder.vocab_size above {too_many.group(1)}"
        )
    return f"cannot train a {vocab_size}-piece SentencePiece vocabulary on its text: {reason}"


def _train_unigram(
    lines: Iterable[str], prefix: Path, vocab_size: int, lowercase: bool, input_sentence_size: int
) -> None:
    spm.SentencePieceTrainer.train(
        sentence_iterator=(line.lower() if lowercase else line for line in lines if line.strip()),
        model_prefix=str(prefix),
        vocab_size=vocab_size,
        model_type="unigram",
        pad_id=0,
        unk_id=1,
        bos_id=-1,
        eos_id=-1,
        control_symbols=["[CLS]", "[SEP]", "[MASK]"],
        input_sentence_size=input_sentence_size,
        shuffle_input_sentence=True,
        hard_vocab_limit=False,
        normalization_rule_name="nmt_nfkc",
        minloglevel=2,
    )


def load_tokenizer(directory: str | Path) -> PreTrainedTokenizerBase:
    """The ALBERT tokenizer of a model or tokenizer directory (or a hub id where the hub is reachable)."""
    path = Path(directory)
    if path.exists() and not (path / "spiece.model").exists() and not (path / "tokenizer.json").exists():
        raise SRLFormatError(
            str(path / "spiece.model"), None, "missing: a tokenizer directory needs spiece.model"
        )
    try:
        tokenizer = AlbertTokenizer.from_pretrained(str(directory))
    except (OSError, ValueError) as error:
        raise SRLFormatError(str(path), None, f"cannot load the tokenizer: {error}") from error
    if len(tokenizer) <= len(SPECIAL_TOKENS):
        raise SRLFormatError(str(path / "spiece.model"), None, "the tokenizer has no vocabulary")
    return tokenizer
