"""``SRLTagger``: load a model directory, tag sentences, save it back.

A model directory is the Hugging Face habit: ``config.json`` (the encoder's config, the label sets and
the preprocessing choices), ``model.safetensors`` (loaded without unpickling anything), the tokenizer
files, and a ``README.md`` model card.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from albert_srl.bio import spans_from_bio
from albert_srl.config import CPU_MAX_TOKENS, GPU_MAX_TOKENS, TagOptions
from albert_srl.data import Argument, Frame, Predicate, Sentence
from albert_srl.errors import SRLFormatError
from albert_srl.files import parse_json, refuse_special_files
from albert_srl.model.albert_form import albert_model_state
from albert_srl.model.encoding import Batch, EncodedSentence, Instance, collate, make_batches, word_pieces
from albert_srl.model.hub import local_directory
from albert_srl.model.network import (
    Decoded,
    ModelConfig,
    SRLModel,
    autocast,
    fresh_encoder,
    model_config_from_json,
    resolve_device,
)
from albert_srl.model.tokenizer import Tokenizer, load_tokenizer
from albert_srl.settings import setting_of
from albert_srl.tagging.lemma import lemmatize
from albert_srl.tagging.text import BadLine, TextSentence

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path(__file__).parents[1] / "models" / "default"
# Words of one sentence that ``tag_stream`` tags; longer "sentences" (a table, a list run together) are
# reported and skipped: tagging time and memory grow with the square of a sentence's length.
CONFIG, WEIGHTS, CARD = "config.json", "model.safetensors", "README.md"
# The lemma table (predicate word form -> roleset lemma) has its own file; a model saved before it did
# keeps the table inline in config.json (``srl.lemmas``), and still loads.
LEMMAS = "lemmas.json"


def model_dir(path: str | Path | None) -> Path:
    """The local directory of a model: ``None`` is the shipped default, else a directory or a hub id
    (``hub.local_directory``)."""
    return local_directory(path if path is not None else DEFAULT_MODEL)


def build_model(config: ModelConfig, config_path: Path) -> SRLModel:
    """``SRLModel(config)`` whose encoder is not randomly initialised: the weights file's tensors become
    its parameters (``load_state_dict(assign=True)``), and initialising 22 M weights was a third of
    loading's time. Settings it cannot take together, and sizes in range that still cannot be allocated,
    are one error naming the config."""
    try:
        return SRLModel(config, fresh_encoder(config.encoder, initialize=False))
    except ValueError as error:  # settings the network cannot take together (network.check_fusion)
        raise SRLFormatError(str(config_path), None, f"not an albert-srl model config: {error}") from None
    except (RuntimeError, MemoryError) as error:  # torch's allocator raises RuntimeError
        first_line = str(error).strip().split("\n")[0] or type(error).__name__
        message = f"the model's sizes cannot be allocated in memory: {first_line}"
        raise SRLFormatError(str(config_path), None, message) from None


# End to end, a batch's sentences come back as one unit row per predicate found, all at that batch's
# width: the finding batch is budgeted for the row that finds them and about three predicates each (EWT
# averages 2.5), so that the tagging batch after it stays near ``max_tokens`` (a full budget made it
# three times that, padded to its longest sentence, and end to end 1.5x slower: docs/benchmarks.md).
ROWS_PER_FOUND_SENTENCE = 4


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
        self.model = model
        self.tokenizer = tokenizer
        self.card = card
        self.bf16 = bf16  # bfloat16 autocast while tagging; None: on CUDA only
        # int8: the encoder's linear layers quantized in place, on the CPU (tagging/quantize.py); such a
        # tagger tags but is never saved.
        self.int8 = int8
        if int8:
            if bf16:
                raise ValueError("int8 and bf16 do not combine: choose one")
            from albert_srl.tagging.quantize import quantize_int8

            quantize_int8(model)

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ---------------------------------------------------------------------------------- files

    def autocast(self) -> AbstractContextManager[Any]:
        """bfloat16 autocast when ``bf16`` says so (``None``: on CUDA), by ``network.autocast``'s rule."""
        return autocast(self.device, self.bf16)

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
        directory = model_dir(path)
        refuse_special_files(directory)
        config_path = directory / CONFIG
        if not config_path.is_file():
            raise SRLFormatError(str(config_path), None, "missing: a model directory needs config.json")
        try:
            config = model_config_from_json(parse_json(config_path.read_text(encoding="utf-8"), config_path))
        except (ValueError, UnicodeDecodeError) as error:  # SRLFormatError (bad JSON) is a ValueError
            message = error.message if isinstance(error, SRLFormatError) else str(error)
            raise SRLFormatError(
                str(config_path), None, f"not an albert-srl model config: {message}"
            ) from None
        if (directory / LEMMAS).is_file():
            config = replace(config, lemmas=read_lemmas(directory / LEMMAS))
        weights_path = directory / WEIGHTS
        if not weights_path.exists():
            raise SRLFormatError(
                str(weights_path), None, "missing: a model directory needs model.safetensors"
            )
        try:
            weights = load_file(str(weights_path))
        except (SafetensorError, OSError, ValueError) as error:
            raise SRLFormatError(str(weights_path), None, f"corrupt weights file: {error}") from error
        model = build_model(config, config_path)
        kind = config.encoder.get("model_type", "albert")
        if kind != "albert":  # a model saved with another architecture's tensor names
            weights = albert_model_state(weights, kind, model.encoder.spec, str(weights_path))
        # Stored in bfloat16 (the shipped encoder) or float32, tagged in float32.
        weights = {k: v.float() if v.is_floating_point() else v for k, v in weights.items()}
        try:
            missing, unexpected = model.load_state_dict(weights, strict=False, assign=True)
        except RuntimeError as error:  # a tensor of another shape than the config says
            message = str(error).split("\n\t", 1)[-1].split("\n")[0]
            raise SRLFormatError(
                str(weights_path), None, f"weights do not fit the config: {message}"
            ) from None
        if missing or unexpected:
            raise SRLFormatError(
                str(weights_path),
                None,
                f"weights do not fit the config: missing {missing[:3]}, unexpected {unexpected[:3]}",
            )
        card_path = directory / CARD
        card = card_path.read_text(encoding="utf-8") if card_path.exists() else None
        model.eval()
        tokenizer = load_tokenizer(directory)
        check_vocabulary(tokenizer, model, directory)
        return cls(model.to(resolve_device(device)), tokenizer, card, bf16, int8)

    def save_pretrained(self, directory: str | Path, card: str | None = None) -> Path:
        """Write ``config.json``, ``lemmas.json``, ``model.safetensors``, the tokenizer files and the card."""
        if self.int8:
            raise ValueError("an int8 tagger is not saved: save the float model it was loaded from")
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        values = self.config.to_dict()
        encoder, lemmas = values.pop("encoder"), values.pop("lemmas")
        config = {"model_type": "albert-srl", "srl": values, "encoder": encoder}
        (out / CONFIG).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (out / LEMMAS).write_text(json.dumps(lemmas, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
        # Shared (tied) tensors are stored once per name: safetensors refuses aliasing storage.
        state = {k: v.detach().cpu().contiguous().clone() for k, v in self.model.state_dict().items()}
        save_file(state, str(out / WEIGHTS), metadata={"format": "pt"})
        self.tokenizer.save_pretrained(out)
        card = card if card is not None else self.card
        if card is not None:
            (out / CARD).write_text(card, encoding="utf-8")
        return out

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
        pieces = self._tokenize(sentences)
        self.model.eval()
        max_tokens = self.batch_budget(max_tokens)
        unknown = [i for i, p in enumerate(wanted) if p is None and sentences[i].words]
        known = sorted(set(range(len(sentences))) - set(unknown))
        with torch.inference_mode():
            given = self._tag_arguments(
                [sentences[i] for i in known],
                [pieces[i] for i in known],
                [list(wanted[i] or ()) for i in known],
                max_tokens,
            )
            found, _ = self._tag_end_to_end(
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
            tagged, left = self._tag_end_to_end(
                chosen, self._tokenize(chosen), self.batch_budget(max_tokens), frame_words
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
            found = self._identify_predicates(
                with_words, self._tokenize(with_words), self.batch_budget(max_tokens)
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
        except (RuntimeError, ValueError, IndexError) as error:
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
            except (RuntimeError, ValueError, IndexError) as error:
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

    def _tokenize(self, sentences: Sequence[Sentence]) -> list[list[list[int]]]:
        """Every word's subwords, in one tokenizer call: the one tokenization the rest of tagging reads.
        One warning per call names the sentences longer than the encoder's window."""
        pieces = word_pieces(self.tokenizer, [s.words or ["."] for s in sentences])
        limit = self.config.max_length - 2
        long = [i + 1 for i, p in enumerate(pieces) if sum(len(w) for w in p) > limit]
        if long:
            shown = ", ".join(map(str, long[:5])) + (" ..." if len(long) > 5 else "")
            log.warning(
                "%d sentence(s) longer than the encoder's window of %d subwords (sentence %s of this batch): "
                "tagged in overlapping windows",
                len(long),
                limit,
                shown,
            )
        return pieces

    def decode_batches(
        self, sentences: list[EncodedSentence], max_tokens: int
    ) -> Iterator[tuple[list[int], Decoded]]:
        """Decode the units of ``sentences`` in length-sorted token-budget batches; yields (sentence
        indices, decoded), the decoded rows being those sentences' units in order.

        Where ``prepares_ahead`` (on CUDA) a CPU thread collates the next batch, into pinned memory, while
        the device decodes the current one.
        """
        labels = {label: i for i, label in enumerate(self.config.labels)}
        senses = {sense: i for i, sense in enumerate(self.config.senses)}
        cuda = self.device.type == "cuda"

        def prepare(ids: list[int]) -> Batch:
            batch = collate([sentences[i] for i in ids], self.tokenizer, self.config, labels, senses)
            return batch.pin_memory() if cuda else batch

        batches = make_batches(sentences, self.config, max_tokens=max_tokens)
        with ThreadPoolExecutor(max_workers=1) if prepares_ahead(self.device) else nullcontext() as pool:
            pending = pool.submit(prepare, batches[0]) if pool and batches else None
            for k, ids in enumerate(batches):
                batch = pending.result() if pending else prepare(ids)
                if pool and k + 1 < len(batches):
                    pending = pool.submit(prepare, batches[k + 1])
                with self.autocast():
                    decoded = self.model.decode(batch.to(self.device))
                yield ids, decoded

    def _identify_predicates(
        self, sentences: list[Sentence], pieces: list[list[list[int]]], max_tokens: int
    ) -> list[list[int]]:
        encoded = to_find_predicates(sentences, pieces)
        found: list[list[int]] = [[] for _ in sentences]
        for ids, decoded in self.decode_batches(encoded, max_tokens):
            flags = decoded.predicate_flags.cpu()
            for row, i in enumerate(ids):
                found[i] = flags[row, : len(sentences[i].words)].nonzero().squeeze(1).tolist()
        return found

    def _tag_arguments(
        self,
        sentences: list[Sentence],
        pieces: list[list[list[int]]],
        predicates: list[list[int]],
        max_tokens: int,
    ) -> list[Sentence]:
        encoded = [
            with_predicates(EncodedSentence(s.words, p, []), indices)
            for s, p, indices in zip(sentences, pieces, predicates, strict=True)
        ]
        with_units = [i for i, e in enumerate(encoded) if e.units]
        frames: list[list[Frame]] = [[] for _ in sentences]
        for ids, decoded in self.decode_batches([encoded[i] for i in with_units], max_tokens):
            batch = [with_units[k] for k in ids]
            tagged = self._frames(decoded, [encoded[i] for i in batch], [sentences[i] for i in batch])
            for i, sentence_frames in zip(batch, tagged, strict=True):
                frames[i] = sentence_frames
        return [replace(s, frames=f) for s, f in zip(sentences, frames, strict=True)]

    def _tag_end_to_end(
        self,
        sentences: list[Sentence],
        pieces: list[list[list[int]]],
        max_tokens: int,
        frame_words: int | None = None,
    ) -> tuple[list[Sentence], list[dict[int, float]]]:
        """Find each sentence's predicates and tag their arguments, batch by batch: the arguments are
        tagged on the lower layers' states that found the predicates, so those layers run once. Returns
        the sentences with their frames, and the predicates found but over ``frame_words`` (untagged),
        each with its probability."""
        labels = {label: i for i, label in enumerate(self.config.labels)}
        senses = {sense: i for i, sense in enumerate(self.config.senses)}
        encoded = to_find_predicates(sentences, pieces)
        frames: list[list[Frame]] = [[] for _ in sentences]
        left: list[dict[int, float]] = [{} for _ in sentences]
        room = float("inf") if frame_words is None else frame_words
        for ids in make_batches(
            encoded, self.config, max_tokens=max(1, max_tokens // ROWS_PER_FOUND_SENTENCE)
        ):
            finding = collate([encoded[i] for i in ids], self.tokenizer, self.config, labels, senses)
            on_device = finding.to(self.device)
            with self.autocast():
                lower = self.model.lower_states(on_device)
                identified = self.model.decode(on_device, lower)
            flags, sure = identified.predicate_flags.cpu(), identified.predicate_probability.cpu().tolist()
            found = [
                flags[row, : len(encoded[i].words)].nonzero().squeeze(1).tolist() for row, i in enumerate(ids)
            ]
            found_probability = {i: sure[row] for row, i in enumerate(ids)}
            now, room = in_turn(found, [len(encoded[i].words) for i in ids], room)
            for i, indices, taken in zip(ids, found, now, strict=True):
                left[i] = {index: found_probability[i][index] for index in indices if index not in taken}
            tagging = [(i, with_predicates(encoded[i], f)) for i, f in zip(ids, now, strict=True) if f]
            if not tagging:
                continue
            units = [unit for _, unit in tagging]
            batch = collate(units, self.tokenizer, self.config, labels, senses, windows_of=finding)
            with self.autocast():
                decoded = self.model.decode(batch.to(self.device), lower)
            tagged = self._frames(decoded, units, [sentences[i] for i, _ in tagging])
            for (i, _), sentence_frames in zip(tagging, tagged, strict=True):
                for frame in sentence_frames:  # how sure the model was that it is a predicate
                    frame.predicate.probability = found_probability[i][frame.predicate.index]
                frames[i] = sentence_frames
        return [replace(s, frames=f) for s, f in zip(sentences, frames, strict=True)], left

    def _frames(
        self, decoded: Decoded, encoded: list[EncodedSentence], sentences: list[Sentence]
    ) -> list[list[Frame]]:
        """The frames of each sentence from ``decoded``, whose rows are the sentences' units in order."""
        tags, senses = decoded.tags.cpu().tolist(), decoded.senses.cpu().tolist()
        probabilities = decoded.tag_probability.cpu().tolist()
        rows = iter(range(len(tags)))
        out: list[list[Frame]] = []
        for sentence, item in zip(sentences, encoded, strict=True):
            found = []
            for unit in item.units:
                row = next(rows)
                assert unit.predicate is not None  # the units of argument tagging each have their predicate
                labels = [self.config.labels[t] for t in tags[row][: len(unit.words)]]
                frame = self._frame(sentence, unit.predicate, labels, self.config.senses[senses[row]])
                frame.probability = probabilities[row]
                found.append(frame)
            out.append(found)
        return out

    def _frame(self, sentence: Sentence, index: int, tags: list[str], sense: str) -> Frame:
        word = sentence.words[index]
        lemma = self.config.lemmas.get(word.lower()) or lemmatize(word)
        predicate = Predicate(index, word, lemma=lemma, sense=f"{lemma}.{sense}" if sense != "-" else None)
        arguments = []
        for role, start, end in spans_from_bio(tags):
            argument = Argument(role, start, end, sentence.span_text(start, end))
            if sentence.offsets is not None:
                argument.char_start, argument.char_end = (
                    sentence.offsets[start][0],
                    sentence.offsets[end - 1][1],
                )
            arguments.append(argument)
        return Frame(predicate, arguments)


def to_find_predicates(sentences: list[Sentence], pieces: list[list[list[int]]]) -> list[EncodedSentence]:
    """Each sentence with its one predicate-identification unit."""
    return [
        EncodedSentence(s.words, p, [Instance(s.words, None)]) for s, p in zip(sentences, pieces, strict=True)
    ]


def in_turn(found: list[list[int]], words: list[int], room: float) -> tuple[list[set[int]], float]:
    """The predicates of ``found`` to tag within ``room`` words (each costs its sentence's ``words``):
    each sentence's first, then its second, ...; and the room left."""
    taken: list[set[int]] = [set() for _ in found]
    for rank in range(max(map(len, found), default=0)):
        for i, indices in enumerate(found):
            if rank < len(indices) and words[i] <= room:
                taken[i].add(indices[rank])
                room -= words[i]
    return taken, room


def with_predicates(sentence: EncodedSentence, predicates: Iterable[int]) -> EncodedSentence:
    """The sentence with one unit a predicate (in word order, each once)."""
    units = [Instance(sentence.words, index) for index in sorted(set(predicates))]
    return EncodedSentence(sentence.words, sentence.pieces, units)


TAG_INPUTS = (
    "pass a str (one text), a list of str (a batch of texts), or a list of word lists (pre-tokenized "
    "sentences, e.g. [['The', 'board', 'approved', 'it', '.']])"
)


def is_word_list(item: Any) -> bool:
    return isinstance(item, (list, tuple)) and all(isinstance(word, str) for word in item)


def prepares_ahead(device: torch.device) -> bool:
    """Whether tagging collates the next batch on a thread while ``device`` decodes: on CUDA; on a CPU the
    two would compete for the same cores, so there batches are prepared in turn."""
    return device.type == "cuda"


def describe(items: list[Any]) -> str:
    """``"a list of str and list"``: the kinds of items a rejected ``tag`` input holds."""
    return f"a list of {' and '.join(sorted({type(item).__name__ for item in items}))}"


def read_lemmas(path: Path) -> dict[str, str]:
    """A model directory's lemma table, checked as ``ModelConfig.lemmas`` is (a JSON object of strings)."""
    try:
        values = parse_json(path.read_text(encoding="utf-8"), path)
        return setting_of(ModelConfig, "lemmas").check(values, str(path))  # type: ignore[no-any-return]
    except UnicodeDecodeError as error:
        raise SRLFormatError(str(path), None, f"not UTF-8 text: {error}") from None


def check_vocabulary(tokenizer: Tokenizer, model: SRLModel, directory: Path) -> None:
    """The tokenizer must not give ids past the encoder's embeddings, and a SentencePiece vocabulary is
    its ALBERT's embedding table: a tokenizer of another size belongs to another model."""
    pieces, rows = len(tokenizer), model.encoder.embeddings.word_embeddings.num_embeddings
    if pieces > rows or (tokenizer.is_sentencepiece and pieces != rows):
        raise SRLFormatError(
            str(directory / "tokenizer.json"),
            None,
            f"a tokenizer of {pieces} pieces for an encoder of {rows} (config.json encoder.vocab_size): "
            "the tokenizer belongs to another model",
        )


def copy_gold_lemmas(gold: Sentence, tagged: Sentence) -> None:
    """Give tagged predicates the lemma of the gold predicate at the same word, keeping the predicted
    sense number: the corpus's target lemma is input, as in the CoNLL shared tasks, and srl-eval.pl
    counts a proposition whose lemma differs from the gold one as wholly missed."""
    lemmas = {f.predicate.index: f.predicate.lemma for f in gold.frames if f.predicate.lemma}
    for frame in tagged.frames:
        lemma = lemmas.get(frame.predicate.index)
        if lemma:
            number = frame.predicate.sense.rsplit(".", 1)[-1] if frame.predicate.sense else None
            frame.predicate.lemma = lemma
            frame.predicate.sense = f"{lemma}.{number}" if number else None
