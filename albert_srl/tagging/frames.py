"""The network's decoded rows as ``Frame`` objects: BIO tags as labelled spans with their text and
character offsets, the roleset (lemma and predicted sense number), and how sure the model was."""

from __future__ import annotations

from collections.abc import Sequence

from albert_srl.bio import spans_from_bio
from albert_srl.data import Argument, Frame, Predicate, Sentence
from albert_srl.model.encoding import NO_SENSE, EncodedSentence
from albert_srl.model.network import Decoded, ModelConfig
from albert_srl.tagging.lemma import lemmatize


def decoded_frames(
    decoded: Decoded, encoded: Sequence[EncodedSentence], sentences: Sequence[Sentence], config: ModelConfig
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
            labels = [config.labels[t] for t in tags[row][: len(unit.words)]]
            frame = tagged_frame(sentence, unit.predicate, labels, config.senses[senses[row]], config.lemmas)
            frame.probability = probabilities[row]
            found.append(frame)
        out.append(found)
    return out


def tagged_frame(
    sentence: Sentence, index: int, tags: list[str], sense: str, lemmas: dict[str, str]
) -> Frame:
    """The frame of the predicate at word ``index``: its arguments from ``tags``, its roleset from the
    model's lemma table (word form -> lemma seen in training), else LemmInflect, and the sense number."""
    word = sentence.words[index]
    lemma = lemmas.get(word.lower()) or lemmatize(word)
    predicate = Predicate(index, word, lemma=lemma, sense=f"{lemma}.{sense}" if sense != NO_SENSE else None)
    arguments = []
    for role, start, end in spans_from_bio(tags):
        argument = Argument(role, start, end, sentence.span_text(start, end))
        if sentence.offsets is not None:
            argument.char_start, argument.char_end = sentence.offsets[start][0], sentence.offsets[end - 1][1]
        arguments.append(argument)
    return Frame(predicate, arguments)


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
