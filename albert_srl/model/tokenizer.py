"""Tokenizers: any fast tokenizer's ``tokenizer.json``, read by the ``tokenizers`` library, and our own
SentencePiece vocabularies.

A model's tokenizer is the ``tokenizer.json`` its directory holds: SentencePiece (ALBERT, XLM-R),
WordPiece (BERT, MiniLM, MPNet) or byte-level BPE (RoBERTa), with the special tokens its
``tokenizer_config.json`` (or ``special_tokens_map.json``) names. Tagging reads nothing else, so it needs
no ``transformers``; a directory with only the older vocabulary files (``spiece.model``, ``vocab.txt``,
``vocab.json`` + ``merges.txt``) is converted once by ``transformers`` (``AutoTokenizer``, no remote
code), and ``save_pretrained`` writes the ``tokenizer.json`` that later loads read. Words reach it
pre-split, so a byte-level BPE tokenizer adds a prefix space to each: every word is encoded as it would
be after a space, as in running text.

A SentencePiece tokenizer is always converted from a directory: building one from a bare ``vocab_file``
silently gives a 5-token vocabulary in transformers 5, and without the ``protobuf`` package every word
becomes ``<unk>`` (see DESIGN.md).
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import tokenizers

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
    import sentencepiece as spm  # training a vocabulary only: tagging never loads it

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        prefix = Path(scratch) / "spiece"
        try:
            _train_unigram(spm, lines, prefix, vocab_size, lowercase, input_sentence_size)
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
    spm: Any, lines: Iterable[str], prefix: Path, vocab_size: int, lowercase: bool, input_sentence_size: int
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
# The files a tokenizer is saved with beside tokenizer.json, as it was loaded with them: other tools (and
# older transformers) read these.
COMPANION_FILES = (
    "tokenizer_config.json",
    "special_tokens_map.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
)
SPECIAL_NAMES = ("cls_token", "sep_token", "pad_token", "unk_token", "mask_token")


class Tokenizer:
    """A fast tokenizer and the special tokens encoding needs: subword ids of pre-split words
    (``word_pieces``) or of running text (``encode_texts``), with no special tokens added."""

    def __init__(
        self,
        backend: tokenizers.Tokenizer,
        specials: dict[str, str],
        files: dict[str, bytes] | None = None,
        name_or_path: str = "",
    ) -> None:
        backend.no_padding()
        backend.no_truncation()
        self.backend = backend
        self.specials = specials
        self.files = files or {}
        self.name_or_path = name_or_path
        ids = {name: backend.token_to_id(token) for name, token in specials.items()}
        missing = [name for name in ("cls_token", "sep_token", "pad_token") if ids.get(name) is None]
        if missing:
            raise ValueError(f"the tokenizer has no {', '.join(missing)}")
        self.cls_token_id: int = ids["cls_token"]  # type: ignore[assignment]
        self.sep_token_id: int = ids["sep_token"]  # type: ignore[assignment]
        self.pad_token_id: int = ids["pad_token"]  # type: ignore[assignment]
        # A byte-level BPE has no unknown bytes, and may name no unknown token: padding stands in.
        self.unk_token_id: int = ids.get("unk_token") or self.pad_token_id
        self.mask_token_id: int | None = ids.get("mask_token")

    def __len__(self) -> int:
        return int(self.backend.get_vocab_size(with_added_tokens=True))

    @property
    def all_special_ids(self) -> list[int]:
        return sorted(
            {i for i in (self.backend.token_to_id(t) for t in self.specials.values()) if i is not None}
        )

    @property
    def is_sentencepiece(self) -> bool:
        """A SentencePiece (unigram) vocabulary: ALBERT's, whose pieces are its embedding table's rows."""
        return type(self.backend.model).__name__ == "Unigram"

    def get_vocab(self) -> dict[str, int]:
        return dict(self.backend.get_vocab(with_added_tokens=True))

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        return [str(self.backend.id_to_token(i)) for i in ids]

    def token_to_id(self, token: str) -> int | None:
        return self.backend.token_to_id(token)

    def word_pieces(self, word_lists: Sequence[Sequence[str]]) -> list[list[list[int]]]:
        """Each word's subword ids (possibly none), all sentences in one call."""
        encoded = self.backend.encode_batch(
            [list(words) for words in word_lists], is_pretokenized=True, add_special_tokens=False
        )
        result = []
        for words, encoding in zip(word_lists, encoded, strict=True):
            pieces: list[list[int]] = [[] for _ in words]
            for piece, word in zip(encoding.ids, encoding.word_ids, strict=True):
                if word is not None:
                    pieces[word].append(piece)
            result.append(pieces)
        return result

    def encode_texts(self, texts: Sequence[str]) -> list[list[int]]:
        """Subword ids of each running text."""
        return [encoding.ids for encoding in self.backend.encode_batch(list(texts), add_special_tokens=False)]

    def tokens(self, text: str) -> list[str]:
        return list(self.backend.encode(text, add_special_tokens=False).tokens)

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.backend.decode(list(ids)))

    def save_pretrained(self, directory: str | Path) -> None:
        """``tokenizer.json`` and the files it was loaded with (its config, special tokens and vocabulary
        files), so ``load_tokenizer`` and other tools read the directory alike."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        for name, content in self.files.items():
            (out / name).write_bytes(content)
        if "tokenizer_config.json" not in self.files:
            config = json.dumps(self.specials, indent=2, ensure_ascii=False) + "\n"
            (out / "tokenizer_config.json").write_text(config, encoding="utf-8")
        self.backend.save(str(out / "tokenizer.json"))


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """The tokenizer of a model or tokenizer directory.

    Raises ``SRLFormatError`` naming the directory when it holds no vocabulary, a damaged one, or one
    without the ``[CLS]``/``[SEP]``/padding tokens that encoding needs.
    """
    path = Path(directory)
    if not path.is_dir() or not any((path / name).exists() for name in VOCABULARY_FILES):
        raise SRLFormatError(
            str(path / "tokenizer.json"),
            None,
            f"missing: a tokenizer directory needs one of {', '.join(VOCABULARY_FILES)}",
        )
    if not (path / "tokenizer.json").is_file():
        return _converted(path)
    try:
        backend = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
    except Exception as error:  # the library raises its own kinds for a damaged file; all mean the same
        raise SRLFormatError(
            str(path / "tokenizer.json"), None, f"cannot load the tokenizer: {_first_line(error)}"
        ) from None
    files = {name: (path / name).read_bytes() for name in COMPANION_FILES if (path / name).is_file()}
    specials = _special_tokens(path, files, backend)
    return _checked(_with_prefix_space(backend), specials, files, path)


def _special_tokens(path: Path, files: dict[str, bytes], backend: tokenizers.Tokenizer) -> dict[str, str]:
    """The special tokens a directory names (tokenizer_config.json, then special_tokens_map.json), else
    those of the post-processor ([CLS] ... [SEP]) and the model's unknown token."""
    found: dict[str, str] = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        if name in files:
            try:
                values = json.loads(files[name])
            except ValueError as error:
                raise SRLFormatError(str(path / name), None, f"not JSON: {error}") from None
            if isinstance(values, dict):
                named = {k: _content(values.get(k)) for k in SPECIAL_NAMES}
                found.update({k: token for k, token in named.items() if token})
    state = json.loads(backend.to_str())
    processor = state.get("post_processor") or {}
    if "cls" in processor and "sep" in processor:  # BertProcessing, RobertaProcessing
        found.setdefault("cls_token", processor["cls"][0])
        found.setdefault("sep_token", processor["sep"][0])
    unknown = (state.get("model") or {}).get("unk_token")
    if isinstance(unknown, str):
        found.setdefault("unk_token", unknown)
    return found


def _content(value: Any) -> str | None:
    """A special token as ``tokenizer_config.json`` writes it: a string, or an object with ``content``."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) and value else None


def _with_prefix_space(backend: tokenizers.Tokenizer) -> tokenizers.Tokenizer:
    """A byte-level BPE (GPT-2, RoBERTa) marks word starts with a space of its own: give pre-split words
    one, as ``transformers`` does with ``add_prefix_space=True``."""
    state = json.loads(backend.to_str())
    changed = False
    for part in _pre_tokenizers(state.get("pre_tokenizer")):
        if part.get("type") == "ByteLevel" and not part.get("add_prefix_space"):
            part["add_prefix_space"] = changed = True
    return tokenizers.Tokenizer.from_str(json.dumps(state)) if changed else backend


def _pre_tokenizers(state: Any) -> list[dict[str, Any]]:
    if not isinstance(state, dict):
        return []
    return [state, *(p for inner in state.get("pretokenizers") or [] for p in _pre_tokenizers(inner))]


def _checked(
    backend: tokenizers.Tokenizer, specials: dict[str, str], files: dict[str, bytes], path: Path
) -> Tokenizer:
    """The tokenizer, or one error naming the directory when it has no vocabulary or special tokens."""
    try:
        tokenizer = Tokenizer(backend, specials, files, str(path))
    except ValueError as error:
        raise SRLFormatError(str(path), None, str(error)) from None
    if len(tokenizer) <= len(tokenizer.all_special_ids):
        raise SRLFormatError(str(path), None, "the tokenizer has no vocabulary")
    return tokenizer


def _converted(path: Path) -> Tokenizer:
    """A directory with only older vocabulary files, converted by ``transformers`` into a fast tokenizer
    (``save_pretrained`` then writes its ``tokenizer.json``)."""
    from transformers import AutoTokenizer

    from albert_srl.quiet import quiet_transformers

    try:
        # A model directory's config.json is albert-srl's, not a transformers model's: no news either; a
        # damaged *.model file makes transformers warn before it fails, and the error below says it all.
        with quiet_transformers("configuration_utils", "tokenization_utils_tokenizers"):
            converted = AutoTokenizer.from_pretrained(str(path), use_fast=True)
    except Exception as error:  # transformers raises many kinds for a damaged file; all mean the same here
        where, reason = str(path), _first_line(error)
        if "tiktoken" in reason:  # transformers' last try at a *.model file that SentencePiece cannot parse
            where, reason = str(next(path.glob("*.model"), path)), "not a SentencePiece model (damaged?)"
        raise SRLFormatError(where, None, f"cannot load the tokenizer: {reason}") from None
    if not converted.is_fast:
        raise SRLFormatError(str(path), None, "no fast tokenizer: word alignment needs tokenizer.json")
    with tempfile.TemporaryDirectory() as scratch:
        converted.save_pretrained(scratch)
        for name in COMPANION_FILES:  # the vocabulary files as the directory has them
            if (path / name).is_file() and name not in ("tokenizer_config.json", "special_tokens_map.json"):
                (Path(scratch) / name).write_bytes((path / name).read_bytes())
        tokenizer = load_tokenizer(scratch)
    tokenizer.name_or_path = str(path)
    return tokenizer


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
