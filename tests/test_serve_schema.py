"""The server's answers are declared (pydantic models): the OpenAPI schema describes the frames, and the
JSON is exactly what ``formats.jsonl`` and ``formats.allennlp`` write, keys left out where they leave
them out."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from albert_srl.data import Sentence
from albert_srl.formats.allennlp import sentence_to_allennlp
from albert_srl.formats.jsonl import sentence_to_json
from albert_srl.schema import SentenceRecord, rounded
from albert_srl.serving.serve import create_app
from albert_srl.tagging.tagger import SRLTagger

# Two sentences the trained tiny model learnt, so that it finds their predicates (in text it never saw
# it may find none, and whether it does turns on float rounding).
TEXT = "President Bush nominated two judges on Tuesday. She said the court, she thinks, will rule soon."


@pytest.fixture(scope="module")
def client(trained_tiny_tagger: SRLTagger) -> TestClient:
    with TestClient(create_app(trained_tiny_tagger)) as client:
        yield client


def test_the_openapi_schema_describes_frames(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    sentences = schemas["TagResponse"]["properties"]["sentences"]
    assert sentences["items"] == {"$ref": "#/components/schemas/SentenceRecord"}
    assert set(schemas["FrameRecord"]["properties"]) == {"predicate", "arguments", "tags", "probability"}
    assert set(schemas["PredicateRecord"]["properties"]) == {"index", "text", "lemma", "sense", "probability"}
    arguments = set(schemas["ArgumentRecord"]["properties"])
    assert arguments == {"role", "start", "end", "text", "char_start", "char_end"}
    assert set(schemas["PredictorRecord"]["required"]) == {"verbs", "words"}


def as_json(value: object) -> object:
    return json.loads(json.dumps(value))  # tuples become lists, as on the wire


def test_the_answers_are_the_jsonl_and_allennlp_objects_unchanged(
    client: TestClient, trained_tiny_tagger: SRLTagger, tiny_sentences: list[Sentence]
) -> None:
    answer = client.post("/v1/tag", json={"text": TEXT}).json()
    expected = [sentence_to_json(sentence) for sentence in trained_tiny_tagger.tag(TEXT)]
    assert answer == as_json({"sentences": expected})
    assert [list(s) for s in answer["sentences"]] == [list(s) for s in expected]  # key order too
    words = [s.words for s in tiny_sentences[:4]]
    predicates = [[f.predicate.index for f in s.frames] for s in tiny_sentences[:4]]
    answer = client.post("/v1/tag", json={"sentences": words, "predicates": predicates}).json()
    expected = [sentence_to_json(s) for s in trained_tiny_tagger.tag(words, predicates)]
    assert any(s["frames"] for s in expected)
    assert answer == as_json({"sentences": expected})
    assert "text" not in answer["sentences"][0]  # not from raw text: left out, not null
    predicted = client.post("/predict", json={"sentence": " ".join(words[0])}).json()
    (sentence,) = trained_tiny_tagger.tag(" ".join(words[0]))
    assert predicted == as_json(sentence_to_allennlp(sentence))


def test_an_answer_reads_back_as_the_taggers_sentences(
    client: TestClient, trained_tiny_tagger: SRLTagger
) -> None:
    """The HTTP round trip: the server writes the schema's records, and the schema reads them back."""
    answer = client.post("/v1/tag", json={"text": TEXT}).json()
    read_back = [SentenceRecord.read(record).sentence() for record in answer["sentences"]]
    tagged = [replace(s, text_index=None) for s in trained_tiny_tagger.tag(TEXT)]
    for frame in (frame for sentence in tagged for frame in sentence.frames):  # written with four decimals
        frame.probability, frame.predicate.probability = map(
            rounded, (frame.probability, frame.predicate.probability)
        )
    assert any(s.frames for s in tagged) and read_back == tagged
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert set(schemas["SentenceRecord"]["properties"]) == set(SentenceRecord.model_fields)
