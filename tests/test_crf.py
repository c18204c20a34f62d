"""ConstrainedCRF: pytorch-crf compatibility in plain mode, and in constrained mode paths that keep the BIO
and predicate rules, scores that match brute-force enumeration, and finite training gradients."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
import torch
import torchcrf
from hypothesis import given, settings
from hypothesis import strategies as st

from albert_srl.model.crf import ConstrainedCRF, allowed_bio_transitions

LABELS = ["O", "B-ARG0", "I-ARG0", "B-V", "I-V", "B-C-ARG0", "I-C-ARG0"]
TINY = ["O", "B-A", "I-A", "B-V", "I-V"]
Case = tuple[int, torch.Tensor, list[int], list[int]]  # seed, emissions, row lengths, predicates


def random_crf(labels: list[str], seed: int, scale: float = 1.0, constrained: bool = True) -> ConstrainedCRF:
    torch.manual_seed(seed)
    crf = ConstrainedCRF(labels, constrained=constrained)
    with torch.no_grad():
        for parameter in crf.parameters():
            parameter.normal_(0.0, scale)
    return crf


def prefix_mask(lengths: list[int], length: int) -> torch.Tensor:
    return torch.arange(length) < torch.tensor(lengths).unsqueeze(1)


def is_valid(tags: list[str], predicate: int = -1) -> bool:
    """The rules, written out independently of the code under test."""
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and (i == 0 or tags[i - 1] not in (f"B-{tag[2:]}", tag)):
            return False
    if predicate < 0:
        return True
    return tags[predicate] == "B-V" and tags.count("B-V") == 1


def path_scores(crf: ConstrainedCRF, emissions: torch.Tensor, paths: torch.Tensor) -> torch.Tensor:
    """Unconstrained score of each of ``paths (N, n)`` for one row's ``emissions (n, L)``."""
    score = crf.start_transitions[paths[:, 0]] + crf.end_transitions[paths[:, -1]]
    score = score + emissions.gather(1, paths.T).sum(0)
    return score + crf.transitions[paths[:, :-1], paths[:, 1:]].sum(1)


def valid_paths(labels: list[str], length: int, predicate: int = -1) -> torch.Tensor:
    """``(N, length)`` every tag sequence that keeps the rules."""
    paths = [
        p
        for p in itertools.product(range(len(labels)), repeat=length)
        if is_valid([labels[i] for i in p], predicate)
    ]
    return torch.tensor(paths)


# --- construction -------------------------------------------------------------------------------------


def test_state_dict_is_pytorch_crfs() -> None:
    plain = torchcrf.CRF(len(LABELS), batch_first=True)
    crf = ConstrainedCRF(LABELS)
    crf.load_state_dict(plain.state_dict(), strict=True)
    assert set(crf.state_dict()) == {"start_transitions", "end_transitions", "transitions"}
    assert torch.equal(crf.transitions, plain.transitions)


def test_bio_rules_with_continuation_prefixes() -> None:
    starts, follows = allowed_bio_transitions(LABELS)
    index = {label: i for i, label in enumerate(LABELS)}

    def allowed(frm: str, to: str) -> bool:
        return bool(follows[index[frm], index[to]])

    assert starts.tolist() == [True, True, False, True, False, True, False]
    assert allowed("B-ARG0", "I-ARG0") and allowed("I-ARG0", "I-ARG0")
    assert allowed("B-C-ARG0", "I-C-ARG0") and allowed("O", "B-C-ARG0")
    assert not allowed("O", "I-ARG0")
    assert not allowed("B-ARG0", "I-C-ARG0")
    assert not allowed("B-C-ARG0", "I-ARG0")
    assert not allowed("B-V", "I-ARG0")


@pytest.mark.parametrize(
    "labels",
    [["B-V", "O"], ["O", "B-ARG0"], ["O", "B-V", "ARG0"], ["O", "B-V", "B-V"], []],
)
def test_rejects_bad_label_sets(labels: list[str]) -> None:
    with pytest.raises(ValueError):
        ConstrainedCRF(labels)


def test_rejects_predicate_outside_its_row() -> None:
    crf = ConstrainedCRF(TINY)
    emissions = torch.zeros(2, 4, len(TINY))
    mask = prefix_mask([4, 2], 4)
    with pytest.raises(ValueError, match="predicate_index"):
        crf.decode(emissions, mask, predicate_index=torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="predicate_index"):
        crf.decode(emissions, mask, predicate_index=torch.tensor([0]))


# --- plain mode is pytorch-crf --------------------------------------------------------------------------


def plain_pair(seed: int) -> tuple[ConstrainedCRF, torchcrf.CRF]:
    crf = random_crf(LABELS, seed, scale=2.0, constrained=False)
    reference = torchcrf.CRF(len(LABELS), batch_first=True)
    reference.load_state_dict(crf.state_dict())
    return crf, reference


@pytest.mark.parametrize("seed", range(40))
def test_plain_decode_is_pytorch_crfs(seed: int) -> None:
    crf, reference = plain_pair(seed)
    generator = torch.Generator().manual_seed(seed)
    batch, length = 9, 13
    emissions = torch.randn(batch, length, len(LABELS), generator=generator) * 3
    lengths = torch.randint(1, length + 1, (batch,), generator=generator).tolist()
    mask = prefix_mask(lengths, length)

    ours = crf.decode(emissions, mask)
    expected = reference.decode(emissions, mask)

    assert ours.shape == (batch, length)
    for row, (path, n) in enumerate(zip(expected, lengths, strict=True)):
        assert ours[row, :n].tolist() == path
        assert ours[row, n:].eq(0).all()


@pytest.mark.parametrize("reduction", ["none", "sum", "mean", "token_mean"])
def test_plain_likelihood_is_pytorch_crfs(reduction: str) -> None:
    crf, reference = plain_pair(7)
    emissions = torch.randn(6, 10, len(LABELS))
    tags = torch.randint(0, len(LABELS), (6, 10))
    mask = prefix_mask([10, 1, 4, 7, 10, 2], 10)
    ours = crf(emissions, tags, mask, reduction=reduction)
    expected = reference(emissions, tags, mask, reduction=reduction)
    torch.testing.assert_close(ours, expected)


# --- constrained mode against brute force -----------------------------------------------------------------


@st.composite
def tiny_batches(draw: st.DrawFn) -> Case:
    """A seed, emissions ``(B, 4, L)``, row lengths and predicate positions (-1: none)."""
    batch = draw(st.integers(1, 3))
    lengths = draw(st.lists(st.integers(1, 4), min_size=batch, max_size=batch))
    predicates = [draw(st.integers(-1, n - 1)) for n in lengths]
    seed = draw(st.integers(0, 2**16))
    emissions = torch.randn(batch, 4, len(TINY), generator=torch.Generator().manual_seed(seed)) * 3
    return seed, emissions, lengths, predicates


@settings(max_examples=60, deadline=None)
@given(tiny_batches())
def test_constrained_decode_is_the_best_valid_path(case: Case) -> None:
    seed, emissions, lengths, predicates = case
    crf = random_crf(TINY, seed, scale=3.0)
    decoded = crf.decode(emissions, prefix_mask(lengths, 4), torch.tensor(predicates))

    for row, (n, predicate) in enumerate(zip(lengths, predicates, strict=True)):
        path = decoded[row, :n]
        tags = [TINY[i] for i in path.tolist()]
        assert is_valid(tags, predicate), tags
        assert decoded[row, n:].eq(0).all()
        candidates = valid_paths(TINY, n, predicate)
        best = path_scores(crf, emissions[row, :n], candidates).max()
        torch.testing.assert_close(path_scores(crf, emissions[row, :n], path.unsqueeze(0))[0], best)


@settings(max_examples=40, deadline=None)
@given(tiny_batches(), st.data())
def test_constrained_likelihood_normalizes_over_valid_paths(case: Case, data: st.DataObject) -> None:
    seed, emissions, lengths, predicates = case
    crf = random_crf(TINY, seed)
    gold = torch.zeros(len(lengths), 4, dtype=torch.long)
    expected = []
    for row, (n, predicate) in enumerate(zip(lengths, predicates, strict=True)):
        candidates = valid_paths(TINY, n, predicate)
        pick = data.draw(st.integers(0, len(candidates) - 1))
        gold[row, :n] = candidates[pick]
        scores = path_scores(crf, emissions[row, :n], candidates)
        expected.append(scores[pick] - scores.logsumexp(0))

    llh = crf(emissions, gold, prefix_mask(lengths, 4), torch.tensor(predicates), reduction="none")
    torch.testing.assert_close(llh, torch.stack(expected))


def test_gold_with_v_off_the_predicate_keeps_a_finite_likelihood() -> None:
    crf = random_crf(LABELS, 3)
    index = {label: i for i, label in enumerate(LABELS)}
    # The predicate is word 2, but the gold V span is words 1-2 (it starts one word early).
    gold = torch.tensor([[index[t] for t in ["B-ARG0", "B-V", "I-V", "O"]]])
    emissions = torch.randn(1, 4, len(LABELS))
    llh = crf(emissions, gold, predicate_index=torch.tensor([2]))
    without_predicate = crf(emissions, gold, predicate_index=torch.tensor([-1]))
    assert torch.isfinite(llh) and llh < 0
    torch.testing.assert_close(llh, without_predicate)


def test_training_gradients_are_finite() -> None:
    crf = random_crf(LABELS, 5)
    index = {label: i for i, label in enumerate(LABELS)}
    gold = torch.tensor(
        [
            [index[t] for t in ["B-ARG0", "I-ARG0", "B-V", "O", "B-C-ARG0", "I-C-ARG0"]],
            [*(index[t] for t in ["B-V", "I-V", "O"]), -100, -100, -100],  # padding may hold anything
        ]
    )
    emissions = torch.randn(2, 6, len(LABELS), requires_grad=True)
    loss = -crf(emissions, gold, prefix_mask([6, 3], 6), torch.tensor([2, 0]), reduction="mean")
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in crf.parameters())
    assert torch.isfinite(emissions.grad).all()
    assert emissions.grad[1, 3:].eq(0).all()  # padding takes no part


def test_constraints_override_any_score_magnitude() -> None:
    crf = ConstrainedCRF(TINY)
    index = {label: i for i, label in enumerate(TINY)}
    emissions = torch.zeros(2, 3, len(TINY))
    emissions[:, :, index["I-A"]] = 1e6  # I-A everywhere would win without the rules
    emissions[0, 0, index["B-V"]] = 1e6  # so would a B-V off the predicate
    decoded = crf.decode(emissions, predicate_index=torch.tensor([2, -1]))
    assert [TINY[i] for i in decoded[0].tolist()] == ["B-A", "I-A", "B-V"]
    assert [TINY[i] for i in decoded[1].tolist()] == ["B-A", "I-A", "I-A"]


def log_space_partition(
    crf: ConstrainedCRF,
) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """The textbook forward algorithm: log space, every tag reduced over all L predecessors."""

    def partition(
        emissions: torch.Tensor, mask: torch.Tensor, start: torch.Tensor, transitions: torch.Tensor
    ) -> torch.Tensor:
        score = start + emissions[:, 0]
        for t in range(1, emissions.size(1)):
            step = torch.logsumexp(score.unsqueeze(2) + transitions, 1) + emissions[:, t]
            score = torch.where(mask[:, t].unsqueeze(1), step, score)
        return torch.logsumexp(score + crf.end_transitions, 1)

    return partition


def test_the_shortcuts_find_the_full_maximum_and_sum() -> None:
    """The shortcuts (Viterbi's I- tag reduced over its B- tag and itself; the forward algorithm in exp
    space, scaled each step) decode the paths, and give the likelihoods and gradients, that a reduction
    over all L predecessors in log space gives, on a label set the size of PropBank's, with emissions far
    apart (scale 40: gaps of a hundred between tags)."""
    labels = ["O", "B-V", "I-V"] + [f"{bio}-ARG{i}" for i in range(30) for bio in ("B", "I")]
    crf = random_crf(labels, seed=5, scale=2.0)
    full = ConstrainedCRF(labels)
    full.load_state_dict(crf.state_dict())
    full.few_tags = torch.zeros(0, dtype=torch.long)  # every tag reduces over all L predecessors
    assert len(crf.few_tags) == 31 and set(crf.few_tags.tolist()) == {
        i for i, label in enumerate(labels) if label.startswith("I-")
    }
    full._log_partition = log_space_partition(full)  # type: ignore[method-assign,assignment]
    torch.manual_seed(6)
    for scale in (3.0, 40.0):
        emissions = (torch.randn(16, 14, len(labels)) * scale).requires_grad_()
        mask = prefix_mask([14, 1, 7, 13] * 4, 14)
        predicates = torch.tensor([0, 0, 3, 12] * 4)
        paths = crf.decode(emissions, mask, predicate_index=predicates)
        assert torch.equal(paths, full.decode(emissions, mask, predicate_index=predicates))
        assert torch.equal(crf.decode(emissions, mask), full.decode(emissions, mask))
        tags = torch.randint(0, len(labels), (16, 14))
        for predicate_index in (predicates, None):
            ours = crf(emissions, paths, mask, predicate_index=predicate_index, reduction="none")
            theirs = full(emissions, paths, mask, predicate_index=predicate_index, reduction="none")
            assert torch.allclose(ours, theirs, rtol=1e-5, atol=1e-3)
            (grad,) = torch.autograd.grad(
                crf(emissions, tags, mask, predicate_index=predicate_index), emissions
            )
            (expected,) = torch.autograd.grad(
                full(emissions, tags, mask, predicate_index=predicate_index), emissions
            )
            assert torch.allclose(grad, expected, atol=1e-4)


def test_a_paths_probability_is_its_share_of_every_allowed_paths_exp_score() -> None:
    """The probability tagging reports (``exp(best - log Z)`` of the decoded path: Viterbi's score and the
    forward algorithm's sum, which the likelihood agrees with) against brute force: every tag sequence
    enumerated, those the constraints forbid (BIO, ``B-V`` at the predicate and nowhere else) left out,
    the rest's exp scores normalised."""
    labels = ["O", "B-V", "I-V", "B-ARG0", "I-ARG0"]
    torch.manual_seed(7)
    crf = ConstrainedCRF(labels)
    with torch.no_grad():
        for parameter in (crf.start_transitions, crf.end_transitions, crf.transitions):
            parameter.normal_()
    emissions = torch.randn(2, 4, len(labels))
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.bool)
    predicate = torch.tensor([1, 0])
    best, probability = crf.decode_with_probability(emissions, mask, predicate)
    assert torch.equal(best, crf.decode(emissions, mask, predicate_index=predicate))
    with torch.no_grad():  # the likelihood of the same paths gives the same probability
        likelihood = crf(emissions, best, mask, predicate_index=predicate, reduction="none")
    assert torch.allclose(probability, likelihood.exp(), rtol=1e-5)
    crf.requires_grad_(False)
    starts, follows = allowed_bio_transitions(labels)
    for row in range(2):
        length, at = int(mask[row].sum()), int(predicate[row])
        scores = {}
        for path in itertools.product(range(len(labels)), repeat=length):
            verbs = [i for i, tag in enumerate(path) if labels[tag] == "B-V"]
            allowed = starts[path[0]] and all(follows[a, b] for a, b in itertools.pairwise(path))
            if not allowed or verbs != [at]:
                continue
            score = crf.start_transitions[path[0]] + crf.end_transitions[path[-1]]
            score = score + sum(emissions[row, i, tag] for i, tag in enumerate(path))
            scores[path] = score + sum(crf.transitions[a, b] for a, b in itertools.pairwise(path))
        total = torch.logsumexp(torch.stack(list(scores.values())), 0)
        decoded = tuple(best[row, :length].tolist())
        assert decoded == max(scores, key=lambda p: float(scores[p]))  # the decoded path is the best
        expected = (scores[decoded] - total).exp()
        assert float(probability[row]) == pytest.approx(float(expected), rel=1e-5)
        assert 0.0 < float(probability[row]) < 1.0
