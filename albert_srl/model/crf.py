"""A BIO-constrained linear-chain CRF over word-level emissions, with batched tensor Viterbi.

``ConstrainedCRF`` keeps pytorch-crf's parameters (``start_transitions``, ``end_transitions``,
``transitions``) and likelihood semantics, so a ``torchcrf.CRF`` state dict loads unchanged. On top
it adds what SRL needs:

- BIO constraints (no ``I-X`` first, no ``I-X`` unless after ``B-X``/``I-X``) as masks on the
  transition scores, in both the likelihood and the decoding (the masked-CRF of Wei et al. 2021);
- an optional predicate constraint: the predicate word is ``B-V`` and no other word is;
- Viterbi fully on tensors, batched, back-trace included (pytorch-crf loops in Python over the
  batch and returns lists); ``benchmarks/crf_speed.py`` measures the difference.

All tensors are batch-first: emissions ``(B, T, L)``, tags and mask ``(B, T)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torchcrf  # type: ignore[import-untyped]

OUTSIDE = "O"
PREDICATE = "B-V"

# The likelihood masks forbidden scores with a large finite negative rather than -inf, so that gold
# the constraints forbid keeps a finite (very low) likelihood. Its exp is 0, so the partition function
# is the constrained one all the same.
LIKELIHOOD_PENALTY = -1e4
# Decoding has no gradient, so it uses -inf: no score magnitude can make a forbidden path win.
DECODE_PENALTY = float("-inf")


def allowed_bio_transitions(labels: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Which tags may start a sequence ``(L,)`` and which may follow which ``(L, L)`` [from, to] in BIO."""
    starts = torch.tensor([not label.startswith("I-") for label in labels])
    follows = torch.tensor(
        [[not to.startswith("I-") or frm in (f"B-{to[2:]}", to) for to in labels] for frm in labels]
    )
    return starts, follows


def _check_labels(labels: list[str]) -> None:
    if not labels or labels[0] != OUTSIDE:
        raise ValueError(f"labels must start with {OUTSIDE!r} at index 0, got {labels[:1]}")
    if PREDICATE not in labels:
        raise ValueError(f"labels must contain {PREDICATE!r}")
    if len(set(labels)) != len(labels):
        raise ValueError("labels must be unique")
    bad = [label for label in labels[1:] if not label.startswith(("B-", "I-")) or len(label) < 3]
    if bad:
        raise ValueError(f"labels must be 'O', 'B-<role>' or 'I-<role>', got {bad[:5]}")


class ConstrainedCRF(torchcrf.CRF):
    """pytorch-crf's CRF (``batch_first=True``) over BIO ``labels`` with BIO and predicate constraints.

    Args:
        labels: BIO tags, index 0 is ``"O"``; must contain ``"B-V"``. Roles may carry ``C-``/``R-``
            prefixes (``"B-C-ARG1"``, ``"I-R-ARG0"``): ``I-C-ARG1`` continues only ``B-C-ARG1``/``I-C-ARG1``.
        constrained: apply the BIO transition constraints. ``False`` gives plain pytorch-crf scores and
            decoding (the predicate constraint still applies where ``predicate_index`` is given).

    The constraint masks are non-persistent buffers: they follow ``.to(device)`` but stay out of the
    state dict, which holds exactly pytorch-crf's three parameters.
    """

    def __init__(self, labels: list[str], constrained: bool = True) -> None:
        _check_labels(labels)
        super().__init__(len(labels), batch_first=True)
        self.labels = list(labels)
        self.constrained = constrained
        self.predicate_tag = labels.index(PREDICATE)
        starts, follows = allowed_bio_transitions(self.labels)
        if not constrained:
            starts, follows = torch.ones_like(starts), torch.ones_like(follows)
        self.register_buffer("allowed_start", starts, persistent=False)
        self.register_buffer("allowed_transitions", follows, persistent=False)
        # Viterbi's shortcut. At most two tags may precede a tag other than the "open" ones (O, B-X):
        # BIO's I-X follows B-X or I-X. Viterbi reduces over those two for them, not over all L.
        sources = [follows[:, to].nonzero().squeeze(1).tolist() for to in range(len(labels))]
        few = [to for to, before in enumerate(sources) if len(before) < len(labels)]
        if any(not 1 <= len(sources[to]) <= 2 for to in few):
            raise ValueError("every tag must follow one or two tags, or any tag")
        pairs = [(sources[to] * 2)[:2] for to in few]  # a lone source twice, the second one invalid
        valid = [[True, len(sources[to]) == 2] for to in few]
        self.register_buffer("few_tags", torch.tensor(few, dtype=torch.long), persistent=False)
        self.register_buffer(
            "few_sources", torch.tensor(pairs, dtype=torch.long).view(-1, 2), persistent=False
        )
        self.register_buffer("few_valid", torch.tensor(valid, dtype=torch.bool).view(-1, 2), persistent=False)
        open_tags = [to for to in range(len(labels)) if to not in set(few)]
        self.register_buffer("open_tags", torch.tensor(open_tags, dtype=torch.long), persistent=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_tags={self.num_tags}, constrained={self.constrained})"

    def forward(
        self,
        emissions: torch.Tensor,
        tags: torch.Tensor,
        mask: torch.Tensor | None = None,
        predicate_index: torch.Tensor | None = None,
        reduction: str = "sum",
    ) -> torch.Tensor:
        """Log likelihood of ``tags`` under the constrained CRF, as pytorch-crf's ``forward``.

        Args:
            emissions: ``(B, T, L)`` scores.
            tags: ``(B, T)`` gold tag indices.
            mask: ``(B, T)`` bool, a prefix of each row (the first position on); default all on.
            predicate_index: ``(B,)`` word index of each row's predicate, ``-1`` for none.
            reduction: ``none`` ``(B,)``, or ``sum``/``mean``/``token_mean`` ``()``.

        The partition function sums only over paths that satisfy the constraints, so a valid gold
        path has a proper (finite, <= 0) log likelihood. The predicate constraint is applied only to
        rows whose gold agrees with it (``B-V`` at the predicate and nowhere else): a few gold
        propositions start the ``V`` span elsewhere (13 of 43k in EWT), and forcing ``B-V`` onto
        them would give the gold path a likelihood of about ``-1e4``. Gold that breaks the BIO
        constraints is scored likewise very low; ``albert_srl.bio.bio_from_spans`` never makes it.
        """
        self._validate(emissions, tags=tags, mask=mask)
        if reduction not in ("none", "sum", "mean", "token_mean"):
            raise ValueError(f"invalid reduction: {reduction}")
        mask = self._full_mask(emissions) if mask is None else mask.bool()
        tags = tags.masked_fill(~mask, 0)  # padding may hold any value, e.g. -100
        if predicate_index is not None:
            self._check_predicate_index(predicate_index, mask)
            agrees = self._gold_agrees_with_predicate(tags, mask, predicate_index)
            predicate_index = torch.where(agrees, predicate_index, -1)
            emissions = self._constrain_emissions(emissions, predicate_index, LIKELIHOOD_PENALTY)
        start, transitions = self._constrained_transitions(LIKELIHOOD_PENALTY)
        llh = self._path_score(emissions, tags, mask, start, transitions) - self._log_partition(
            emissions, mask, start, transitions
        )
        if reduction == "none":
            return llh
        if reduction == "sum":
            return llh.sum()
        if reduction == "mean":
            return llh.mean()
        return llh.sum() / mask.float().sum()

    @torch.no_grad()
    def decode(
        self,
        emissions: torch.Tensor,
        mask: torch.Tensor | None = None,
        predicate_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The best tag path of each row by batched Viterbi.

        Args:
            emissions: ``(B, T, L)`` scores.
            mask: ``(B, T)`` bool, a prefix of each row (the first position on); default all on.
            predicate_index: ``(B,)`` word index of each row's predicate, ``-1`` for none; forces
                ``B-V`` there and forbids ``B-V`` elsewhere (an ``I-V`` continuing it stays allowed).

        Returns:
            ``(B, T)`` tag indices; padded positions hold 0 (``"O"``). With ``constrained=False`` and
            no ``predicate_index`` the paths are exactly pytorch-crf's ``decode`` paths.
        """
        return self._viterbi(*self._decoding_scores(emissions, mask, predicate_index))[0]

    @torch.no_grad()
    def decode_with_probability(
        self,
        emissions: torch.Tensor,
        mask: torch.Tensor | None = None,
        predicate_index: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``decode``'s paths ``(B, T)`` and each one's probability ``(B,)``: its exp score's share of the
        summed exp score of every path the constraints allow, ``exp(best - log Z)``, the best score being
        Viterbi's and ``log Z`` the forward algorithm's, on the same constrained scores."""
        scores = self._decoding_scores(emissions, mask, predicate_index)
        paths, best = self._viterbi(*scores)
        return paths, (best - self._log_partition(*scores)).exp()

    def _decoding_scores(
        self, emissions: torch.Tensor, mask: torch.Tensor | None, predicate_index: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The emissions, mask, start and transition scores that decoding reads, checked, with the
        constraints applied (forbidden scores -inf)."""
        self._validate(emissions, mask=mask)
        mask = self._full_mask(emissions) if mask is None else mask.bool()
        if predicate_index is not None:
            self._check_predicate_index(predicate_index, mask)
            emissions = self._constrain_emissions(emissions, predicate_index, DECODE_PENALTY)
        start, transitions = self._constrained_transitions(DECODE_PENALTY)
        return emissions, mask, start, transitions

    # --- constraints ---------------------------------------------------------------------------------

    def _constrained_transitions(self, penalty: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Start ``(L,)`` and transition ``(L, L)`` scores with forbidden entries set to ``penalty``."""
        start = self.start_transitions.masked_fill(~self.allowed_start, penalty)
        transitions = self.transitions.masked_fill(~self.allowed_transitions, penalty)
        return start, transitions

    def _constrain_emissions(
        self, emissions: torch.Tensor, predicate_index: torch.Tensor, penalty: float
    ) -> torch.Tensor:
        """``emissions (B, T, L)`` with everything but ``B-V`` at the predicate, and ``B-V`` off it, set to
        ``penalty``; rows with ``predicate_index == -1`` are left as they are."""
        positions = torch.arange(emissions.size(1), device=emissions.device)
        at_predicate = (positions == predicate_index.unsqueeze(1)).unsqueeze(2)  # (B, T, 1)
        off_predicate = (predicate_index >= 0).view(-1, 1, 1) & ~at_predicate  # (B, T, 1)
        is_predicate_tag = torch.arange(self.num_tags, device=emissions.device) == self.predicate_tag
        forbidden = (at_predicate & ~is_predicate_tag) | (off_predicate & is_predicate_tag)
        return emissions.masked_fill(forbidden, penalty)

    def _gold_agrees_with_predicate(
        self, tags: torch.Tensor, mask: torch.Tensor, predicate_index: torch.Tensor
    ) -> torch.Tensor:
        """``(B,)`` bool: the gold row has ``B-V`` at its predicate and at no other word."""
        is_predicate_tag = (tags == self.predicate_tag) & mask
        at_index = is_predicate_tag.gather(1, predicate_index.clamp(min=0).unsqueeze(1)).squeeze(1)
        return (predicate_index >= 0) & at_index & (is_predicate_tag.sum(1) == 1)

    def _check_predicate_index(self, predicate_index: torch.Tensor, mask: torch.Tensor) -> None:
        if predicate_index.shape != mask.shape[:1]:
            raise ValueError(
                f"predicate_index must have shape ({mask.size(0)},), got {tuple(predicate_index.shape)}"
            )
        lengths = mask.sum(1)
        if ((predicate_index < -1) | (predicate_index >= lengths)).any():
            raise ValueError("predicate_index must be -1 or a word index inside its row's mask")

    # --- the math --------------------------------------------------------------------------------------

    @staticmethod
    def _full_mask(emissions: torch.Tensor) -> torch.Tensor:
        return torch.ones(emissions.shape[:2], dtype=torch.bool, device=emissions.device)

    def _path_score(
        self,
        emissions: torch.Tensor,
        tags: torch.Tensor,
        mask: torch.Tensor,
        start: torch.Tensor,
        transitions: torch.Tensor,
    ) -> torch.Tensor:
        """``(B,)`` unnormalized score of the ``tags (B, T)`` paths, summed over unmasked positions."""
        emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2) * mask  # (B, T)
        moved = transitions[tags[:, :-1], tags[:, 1:]] * mask[:, 1:]  # (B, T - 1)
        last_tags = tags.gather(1, (mask.sum(1, keepdim=True) - 1)).squeeze(1)
        return start[tags[:, 0]] + emitted.sum(1) + moved.sum(1) + self.end_transitions[last_tags]

    def _log_partition(
        self, emissions: torch.Tensor, mask: torch.Tensor, start: torch.Tensor, transitions: torch.Tensor
    ) -> torch.Tensor:
        """``(B,)`` log of the summed exp score over all paths: the forward algorithm in exp space, where
        a step is one matrix product. Each position's emissions count relative to their largest, and the
        running sums are scaled to sum to one after each step, the logs of the scales added up. In float64
        a state is lost only below e^-700 of its row's mass: no emission gap a model learns comes near
        making it count again. A forbidden transition's exp is 0, so the sum is the constrained one."""
        scores = emissions.double()
        top = scores.amax(2, keepdim=True)  # (B, T, 1): each position's largest (one tag is always allowed)
        weights = (scores - top).exp()
        moves = transitions.double().exp()  # (L, L) [from, to]
        tiny = torch.finfo(torch.float64).tiny
        alpha = start.double().exp() * weights[:, 0]  # (B, L)
        scale = alpha.sum(1, keepdim=True).clamp_min(tiny)
        alpha, scales = alpha / scale, [scale]
        for t in range(1, emissions.size(1)):
            step = (alpha @ moves) * weights[:, t]
            scale = step.sum(1, keepdim=True).clamp_min(tiny)
            on = mask[:, t].unsqueeze(1)
            alpha = torch.where(on, step / scale, alpha)
            scales.append(torch.where(on, scale, 1.0))
        logged = torch.cat(scales, 1).log().sum(1) + torch.where(mask, top.squeeze(2), 0.0).sum(1)
        return (logged + (alpha * self.end_transitions.double().exp()).sum(1).log()).to(emissions.dtype)

    def _best_before(self, into: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """A function from the scores ``(B, L)`` at one position to each tag's best ``score[:, j] +
        into[tag, j]``: over all L predecessors for the open tags, over the (two) allowed ones for the
        others. A forbidden transition scores -inf, so two predecessors give the same maximum as all L:
        the ``(B, L, L)`` candidates are most of Viterbi's time, and with 113 BIO tags 56 have two."""
        if len(self.few_tags) == 0:
            return lambda score: (score.unsqueeze(1) + into).amax(2)
        opened, few, sources = self.open_tags, self.few_tags, self.few_sources
        into_open = into[opened].contiguous()  # (Lo, L)
        into_few = into[few.unsqueeze(1), sources].masked_fill(~self.few_valid, float("-inf"))

        def best(score: torch.Tensor) -> torch.Tensor:
            out = torch.empty_like(score)
            out[:, opened] = (score.unsqueeze(1) + into_open).amax(2)
            out[:, few] = (score[:, sources] + into_few).amax(2)
            return out

        return best

    def _viterbi(
        self, emissions: torch.Tensor, mask: torch.Tensor, start: torch.Tensor, transitions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, T)`` best paths, 0 on padding, and their scores ``(B,)``.

        The forward pass keeps only each position's best scores ``(B, L)``: a max without indices over
        the ``(B, L, L)`` candidates is several times faster on CPU than one with. The back-trace then
        finds each back-pointer from the stored scores for the one tag on the path, a ``(B, L)`` argmax.
        The emission does not depend on the previous tag, so it is added after the max. Rounding is
        monotone, so the scores are bit for bit pytorch-crf's, and so are the paths, except where
        rounding its sums would tie two candidates (pytorch-crf then keeps the first, we the larger).
        """
        into = transitions.T.contiguous()  # [to, from]: reduce over the contiguous last dimension
        best_before = self._best_before(into)
        score = start + emissions[:, 0]  # (B, L)
        scores = [score]  # scores[t][b, j]: best score of a path through tag j at position t
        for t in range(1, mask.size(1)):
            step = best_before(score) + emissions[:, t]
            score = torch.where(mask[:, t].unsqueeze(1), step, score)
            scores.append(score)
        last = mask.sum(1) - 1  # (B,)

        # Past a row's end its score was carried unchanged, so its best final tag stands at every
        # padded position until the back-trace reaches the row's last word and starts following scores.
        best, tag = (score + self.end_transitions).max(dim=1)  # (B,) each
        backwards = [tag]
        for t in range(mask.size(1) - 1, 0, -1):
            previous = (scores[t - 1] + into[tag]).argmax(dim=1)
            tag = torch.where(t <= last, previous, tag)
            backwards.append(tag)
        return torch.stack(backwards[::-1], dim=1).masked_fill(~mask, 0), best
