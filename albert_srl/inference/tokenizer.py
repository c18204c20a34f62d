"""Tokenizers: any fast Hugging Face tokenizer directory, and our own SentencePiece vocabularies.

A model's tokenizer is whatever fast tokenizer its directory holds: SentencePiece (ALBERT, XLM-R),
WordPiece (BERT, MiniLM) or byte-level BPE (RoBERTa), loaded by ``AutoTokenizer`` (no remote code).
Words reach it pre-split (``is_split_into_words``), so a byte-level BPE tokenizer is loaded with
``add_prefix_space``: each word is then encoded as it would be after a space, as in running text.

A SentencePiece tokenizer is always loaded from a directory: building one from a bare ``vocab_file``
silently gives a 5-token vocabulary in transformers 5, and without the ``protobuf`` package every word
becomes ``<unk>`` (see DESIGN.md).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from albert_srl.errors import SRLFormatError
from albert_srl.quiet import quiet_transformers

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


# The files a tokenizer directory may hold its vocabulary in, one of them needed: the fast tokenizer's
# own, SentencePiece's, WordPiece's, byte-level BPE's.
VOCABULARY_FILES = ("tokenizer.json", "spiece.model", "sentencepiece.bpe.model", "vocab.txt", "vocab.json")

Tokenizer = PreTrainedTokenizerBase  # what every signature of the project means by a tokenizer


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """The fast tokenizer of a model or tokenizer directory (or a hub id where the hub is reachable).

    Raises ``SRLFormatError`` naming the directory when it holds no vocabulary, no fast tokenizer, or
    one without the ``[CLS]``/``[SEP]``/padding tokens that encoding needs.
    """
    path = Path(directory)
    if path.exists() and not any((path / name).exists() for name in VOCABULARY_FILES):
        raise SRLFormatError(
            str(path / "tokenizer.json"),
            None,
            f"missing: a tokenizer directory needs one of {', '.join(VOCABULARY_FILES)}",
        )
    try:
        # A model directory's config.json is albert-srl's, not a transformers model's: no news either; a
        # damaged *.model file makes transformers warn before it fails, and the error below says it all.
        with quiet_transformers("configuration_utils", "tokenization_utils_tokenizers"):
            tokenizer = AutoTokenizer.from_pretrained(str(directory), use_fast=True)
            if _is_byte_level(tokenizer):
                tokenizer = AutoTokenizer.from_pretrained(
                    str(directory), use_fast=True, add_prefix_space=True
                )
    except Exception as error:  # transformers raises many kinds for a damaged file; all mean the same here
        where, reason = str(path), _first_line(error)
        if "tiktoken" in reason:  # transformers' last try at a *.model file that SentencePiece cannot parse
            where, reason = str(next(path.glob("*.model"), path)), "not a SentencePiece model (damaged?)"
        raise SRLFormatError(where, None, f"cannot load the tokenizer: {reason}") from None
    if not tokenizer.is_fast:
        raise SRLFormatError(str(path), None, "no fast tokenizer: word alignment needs tokenizer.json")
    if len(tokenizer) <= len(tokenizer.all_special_tokens):
        raise SRLFormatError(str(path), None, "the tokenizer has no vocabulary")
    missing = [name for name in ("cls_token", "sep_token", "pad_token") if getattr(tokenizer, name) is None]
    if missing:
        raise SRLFormatError(str(path), None, f"the tokenizer has no {', '.join(missing)}")
    return tokenizer


def _is_byte_level(tokenizer: PreTrainedTokenizerBase) -> bool:
    """A byte-level BPE (GPT-2, RoBERTa): its pre-tokenizer marks word starts with a space of its own."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    return '"ByteLevel"' in json.dumps(json.loads(backend.to_str()).get("pre_tokenizer"))


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def save_vocabulary_files(tokenizer: Tokenizer, out: Path) -> None:
    """Copy the tokenizer's own vocabulary files (``spiece.model``, ``vocab.txt``, ``vocab.json`` and
    ``merges.txt``) beside ``tokenizer.json``: transformers 5 saves only the latter, and other tools (and
    older transformers) read the former. Each file keeps the name its kind uses, never another's."""
    for attribute, name in getattr(tokenizer, "vocab_files_names", {}).items():
        source = getattr(tokenizer, attribute, None)
        target = out / name
        if isinstance(source, str) and Path(source).is_file() and Path(source).resolve() != target.resolve():
            shutil.copyfile(source, target)
