"""``SRLTagger``: the tagging API. Load a model directory (``model_dir``), tag text, word lists and
corpora (``decoding`` runs the network, ``frames`` builds what it found), save the model back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from albert_srl.config import CPU_MAX_TOKENS, GPU_MAX_TOKENS, TagOptions
from albert_srl.data import Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.model.network import ModelConfig, SRLModel, resolve_device
from albert_srl.model.tokenizer import Tokenizer
from albert_srl.tagging.decoding import Decoder
from albert_srl.tagging.frames import copy_gold_lemmas
from albert_srl.tagging.model_dir import SavedModel, read_model_dir, write_model_dir
from albert_srl.tagging.text import BadLine, TextSentence

log = logging.getLogger(__name__)


class SRLTagger:
    """A trained model with its tokenizer: ``tag`` sentences, ``save_pretrained`` / ``from_pretrained``."""

    def __init__(
        self,
        model: SRLModel,
        tokenizer: Tokenizer,
        card: str | None = None,
        bf16: bool | None = None,
        int8: bool = False,
    ) -> None:
        # bf16: bfloat16 autocast while tagging; None: on CUDA only
        self.decoder = Decoder(model, tokenizer, bf16)
        self.card = card
        # int8: the encoder's linear layers quantized in place, on the CPU (tagging/quantize.py); such a
        # tagger tags but is never saved.
        self.int8 = int8
        if int8:
            if bf16:
                raise ValueError("int8 and bf16 do not combine: choose one")
            from albert_srl.tagging.quantize import quantize_int8

            quantize_int8(model)

    @property
    def model(self) -> SRLModel:
        return self.decoder.model

    @property
    def tokenizer(self) -> Tokenizer:
        return self.decoder.tokenizer

    @property
    def bf16(self) -> bool | None:
        return self.decoder.bf16

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def device(self) -> torch.device:
        return self.decoder.device

    # ---------------------------------------------------------------------------------- files

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path | None = None,
        device: str | torch.device | None = "cpu",
        bf16: bool | None = None,
        int8: bool = False,
    ) -> SRLTagger:
        """Load a model: ``None`` is the default model shipped in the package, else a model directory or a
        Hugging Face hub id (``org/name``, fetched into or read from the hub's cache; see ``model_dir``).
        ``int8``: quantize the encoder's per-predicate linear layers to dynamic int8 after loading (CPU
        only; the shipped model tags about 1.2-1.4x faster for 0.10 dev F1, docs/benchmarks.md)."""
        saved = read_model_dir(path)
        return cls(saved.model.to(resolve_device(device)), saved.tokenizer, saved.card, bf16, int8)

    def save_pretrained(self, directory: str | Path, card: str | None = None) -> Path:
        """Write ``config.json``, ``lemmas.json``, ``model.safetensors``, the tokenizer files and the card."""
        if self.int8:
            raise ValueError("an int8 tagger is not saved: save the float model it was loaded from")
        return write_model_dir(
            directory, SavedModel(self.model, self.tokenizer, card if card is not None else self.card)
        )

    # ---------------------------------------------------------------------------------- tagging

    def tag(
        self,
        inputs: str | Sequence[str] | Sequence[Sequence[str]] | Sequence[Sentence],
        predicates: Sequence[Sequence[int] | None] | None = None,
        max_tokens: int | None = TagOptions.max_tokens,
    ) -> list[Sentence]:
        """Tag text or sentences; returns one ``Sentence`` with its frames per sentence, in input order.

        ``inputs`` is one of (docs/api.md):

        - a ``str``: one text, split into sentences and words;
        - a list of ``str``: a batch of texts (as spaCy's ``nlp.pipe`` and Hugging Face pipelines take
          them); the sentences of all texts come back in one flat list, each with ``text_index``;
        - a list of word lists: pre-tokenized sentences, tagged as given (or ``Sentence`` objects).

        Character offsets (``Sentence.offsets``, ``Argument.char_start`` / ``char_end``) index the text
        the sentence came from; ``Sentence.char_start`` is where that sentence starts in it.
        ``predicates``: for pre-tokenized input only, the word indices of each sentence's predicates;
        where ``None`` (for all, or for one sentence) the model's predicate-identification head finds them.
        """
        sentences = self._as_sentences(inputs, predicates)
        if predicates is not None and len(predicates) != len(sentences):
            raise ValueError(f"predicates has {len(predicates)} entries for {len(sentences)} sentences")
        wanted = list(predicates) if predicates is not None else [None] * len(sentences)
        for i, sentence in enumerate(sentences):
            for index in wanted[i] or ():
                if not 0 <= index < len(sentence.words):
                    raise ValueError(
                        f"sentence {i}: predicate index {index} outside its {len(sentence.words)} words"
                    )
        pieces = self.decoder.tokenize(sentences)
        self.model.eval()
        max_tokens = self.batch_budget(max_tokens)
        unknown = [i for i, p in enumerate(wanted) if p is None and sentences[i].words]
        known = sorted(set(range(len(sentences))) - set(unknown))
        with torch.inference_mode():
            given = self.decoder.tag_arguments(
                [sentences[i] for i in known],
                [pieces[i] for i in known],
                [list(wanted[i] or ()) for i in known],
                max_tokens,
            )
            found, _ = self.decoder.find_and_tag(
                [sentences[i] for i in unknown], [pieces[i] for i in unknown], max_tokens
            )
        tagged = dict(zip(known, given, strict=True)) | dict(zip(unknown, found, strict=True))
        return [tagged[i] for i in range(len(sentences))]

    def batch_budget(self, max_tokens: int | None = None) -> int:
        """Subwords in one forward pass: ``max_tokens``, or where ``None`` this device's default."""
        if max_tokens is not None:
            return max_tokens
        return GPU_MAX_TOKENS if self.device.type == "cuda" else CPU_MAX_TOKENS

    def find_and_tag(
        self,
        sentences: Sequence[Sentence],
        frame_words: int | None = None,
        max_tokens: int | None = TagOptions.max_tokens,
    ) -> tuple[list[Sentence], list[dict[int, float]]]:
        """Find each sentence's predicates and tag their arguments on the lower layers' states that found
        them, as ``tag`` does without predicates; returns the tagged sentences, and the predicates found
        but left untagged in each (word index -> how sure the model was that it is a predicate).
        ``frame_words`` bounds the tagging (each predicate costs its sentence's words): predicates are
        taken in turn, each sentence's first, then its second, ..., while they fit; those left over are
        the caller's to tag (the server interleaves them with other requests)."""
        self.model.eval()
        with_words = [i for i, s in enumerate(sentences) if s.words]
        chosen = [sentences[i] for i in with_words]
        with torch.inference_mode():
            tagged, left = self.decoder.find_and_tag(
                chosen, self.decoder.tokenize(chosen), self.batch_budget(max_tokens), frame_words
            )
        out = [replace(s, frames=[]) for s in sentences]
        untagged: list[dict[int, float]] = [{} for _ in sentences]
        for i, sentence, indices in zip(with_words, tagged, left, strict=True):
            out[i], untagged[i] = sentence, indices
        return out, untagged

    def find_predicates(
        self, sentences: Sequence[Sentence], max_tokens: int | None = TagOptions.max_tokens
    ) -> list[list[int]]:
        """The word indices of the predicates the model finds in each sentence."""
        self.model.eval()
        with_words = [s for s in sentences if s.words]
        with torch.inference_mode():
            found = self.decoder.find_predicates(
                with_words, self.decoder.tokenize(with_words), self.batch_budget(max_tokens)
            )
        it = iter(found)
        return [next(it) if s.words else [] for s in sentences]

    def tag_conll(
        self,
        sentences: Iterable[Sentence],
        chunk: int = 256,
        progress: bool = False,
        gold_predicates: bool = True,
        max_tokens: int | None = TagOptions.max_tokens,
    ) -> Iterator[Sentence]:
        """Tag sentences read from a corpus, streaming ``chunk`` at a time: with their gold predicates, or
        (``gold_predicates=False``) with the predicates the model finds itself. Tagged predicates keep
        the gold lemma of their word (``copy_gold_lemmas``)."""
        bar = tqdm(unit=" sentences", disable=not progress)
        buffer: list[Sentence] = []
        try:
            for sentence in sentences:
                buffer.append(sentence)
                if len(buffer) >= chunk:
                    yield from self._tag_corpus_chunk(buffer, gold_predicates, max_tokens)
                    bar.update(len(buffer))
                    buffer = []
        except SRLFormatError:  # the input broke off: the sentences read before it are still tagged
            yield from self._tag_corpus_chunk(buffer, gold_predicates, max_tokens) if buffer else ()
            raise
        if buffer:
            yield from self._tag_corpus_chunk(buffer, gold_predicates, max_tokens)
            bar.update(len(buffer))
        bar.close()

    def _tag_corpus_chunk(
        self, sentences: list[Sentence], gold_predicates: bool, max_tokens: int | None
    ) -> list[Sentence]:
        predicates = [[f.predicate.index for f in s.frames] for s in sentences] if gold_predicates else None
        tagged = self.tag(sentences, predicates=predicates, max_tokens=max_tokens)
        for gold, out in zip(sentences, tagged, strict=True):
            out.pos, out.doc_id, out.part = gold.pos, gold.doc_id, gold.part
            if gold_predicates:
                copy_gold_lemmas(gold, out)
        return tagged

    def tag_stream(
        self,
        items: Iterable[TextSentence | BadLine],
        batch_size: int = TagOptions.batch_size,
        max_tokens: int | None = TagOptions.max_tokens,
        path: str = "<input>",
        max_words: int = TagOptions.max_words,
    ) -> Iterator[Sentence | BadLine]:
        """Tag a stream of ``text.TextSentence`` (and ``text.BadLine``) ``batch_size`` sentences at a time.

        Yields tagged ``Sentence`` objects and the ``BadLine`` items, in input order. A sentence the model
        fails on, or one of more than ``max_words`` words, is yielded as a ``BadLine`` naming its line,
        and the run goes on.
        """
        buffer: list[TextSentence | BadLine] = []
        pending = 0
        try:
            for item in items:
                if isinstance(item, TextSentence) and len(item.words) > max_words:
                    reason = f"a sentence of {len(item.words):,} words is over the limit of {max_words:,}"
                    item = BadLine(path, item.line, reason)
                buffer.append(item)
                pending += isinstance(item, TextSentence)
                if pending >= batch_size:
                    yield from self._tag_buffer(buffer, max_tokens, path)
                    buffer, pending = [], 0
        except SRLFormatError:  # the input broke off (a truncated gzip): tag what was read before it
            yield from self._tag_buffer(buffer, max_tokens, path)
            raise
        yield from self._tag_buffer(buffer, max_tokens, path)

    def _tag_buffer(
        self, buffer: list[TextSentence | BadLine], max_tokens: int | None, path: str
    ) -> Iterator[Sentence | BadLine]:
        sentences = [item for item in buffer if isinstance(item, TextSentence)]
        tagged: Iterator[Sentence | BadLine]
        try:
            tagged = iter(self._tag_text_sentences(sentences, max_tokens))
        except (MemoryError, RuntimeError) as error:
            if not out_of_memory(error):
                raise
            log.debug("batch failed (%s): tagging its sentences one at a time", error)
            tagged = iter(self._tag_one_by_one(sentences, max_tokens, path))
        for item in buffer:
            yield item if isinstance(item, BadLine) else next(tagged)

    def _tag_text_sentences(self, sentences: list[TextSentence], max_tokens: int | None) -> list[Sentence]:
        return self.tag(
            [s.to_sentence() for s in sentences], [s.predicates for s in sentences], max_tokens=max_tokens
        )

    def _tag_one_by_one(
        self, sentences: list[TextSentence], max_tokens: int | None, path: str
    ) -> list[Sentence | BadLine]:
        out: list[Sentence | BadLine] = []
        for sentence in sentences:
            try:
                out.extend(self._tag_text_sentences([sentence], max_tokens))
            except (MemoryError, RuntimeError) as error:
                if not out_of_memory(error):
                    raise
                out.append(BadLine(path, sentence.line, f"cannot tag this sentence: {error}"))
        return out

    @staticmethod
    def _as_sentences(inputs: Any, predicates: Any) -> list[Sentence]:
        """``tag``'s input as ``Sentence`` objects; a TypeError that says what to pass when it is none of
        the accepted forms."""
        if isinstance(inputs, str):
            texts: list[str] = [inputs]
        elif isinstance(inputs, Iterable):
            items = list(inputs)
            if items and all(isinstance(item, str) for item in items):
                texts = items
                if len(texts) > 1 and not any(text.split()[1:] for text in texts):
                    log.warning(
                        "tag() got %d strings, none of more than one word: each is tagged as a text of its "
                        "own; for the words of one sentence pass a list of word lists, tag([words])",
                        len(texts),
                    )
            elif all(isinstance(item, Sentence) for item in items):
                return [
                    Sentence(
                        list(s.words), [], s.text, s.offsets, char_start=s.char_start, text_index=s.text_index
                    )
                    for s in items
                ]
            elif all(is_word_list(item) for item in items):
                return [Sentence(words=list(item)) for item in items]
            else:
                raise TypeError(f"tag() cannot read {describe(items)}: {TAG_INPUTS}")
        else:
            raise TypeError(f"tag() cannot read a {type(inputs).__name__}: {TAG_INPUTS}")
        if predicates is not None:
            raise TypeError(
                "tag(): predicates are word indices, so they need pre-tokenized input; pass the sentences "
                "as lists of words, e.g. tag([['The', 'board', 'approved', 'it', '.']], predicates=[[2]])"
            )
        from albert_srl.tagging.text import split_text

        sentences = []
        for index, text in enumerate(texts):
            for piece in split_text(text):
                sentence = piece.to_sentence()
                sentence.text_index = index
                sentences.append(sentence)
        return sentences


TAG_INPUTS = (
    "pass a str (one text), a list of str (a batch of texts), or a list of word lists (pre-tokenized "
    "sentences, e.g. [['The', 'board', 'approved', 'it', '.']])"
)


def is_word_list(item: Any) -> bool:
    return isinstance(item, (list, tuple)) and all(isinstance(word, str) for word in item)


def out_of_memory(error: BaseException) -> bool:
    """Whether tagging failed for want of memory: the one failure a sentence of a stream can cause, so
    the one that ``tag_stream`` reports as a ``BadLine`` before it goes on. The rest is checked before
    the network sees a sentence: its words by the text reader (bad lines are ``BadLine`` already), its
    length against ``max_words``, the model when it was loaded; any other error (an ``IndexError``, a
    shape mismatch) is a bug, raised rather than blamed on the sentence. CUDA raises
    ``torch.OutOfMemoryError``; torch's CPU allocator a plain ``RuntimeError`` that names it."""
    return isinstance(error, (MemoryError, torch.OutOfMemoryError)) or "DefaultCPUAllocator" in str(error)


def describe(items: list[Any]) -> str:
    """``"a list of str and list"``: the kinds of items a rejected ``tag`` input holds."""
    return f"a list of {' and '.join(sorted({type(item).__name__ for item in items}))}"
