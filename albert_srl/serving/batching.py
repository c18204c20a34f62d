"""The server's work queue: requests cut into units of work and tagged in interleaved batches.

Each request becomes a ``Job`` of ``Unit``s (finding one sentence's predicates and tagging them in the
same pass; tagging one predicate's arguments). ``Batcher``'s worker builds each batch from the first
unit of each request not served yet, then slices of the others in turn (a unit and the job's next
predicates of the same sentence), one per job per round, within ``ServeLimits.batch_words`` words of
work (or ``batch_ms`` of measured work), so a small request waits for the batch in flight, not behind a
big one. Batches run in a thread; a failed batch is retried unit by unit, so only the request the
tagger cannot tag fails. ``serve`` puts HTTP around it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from albert_srl.config import TagOptions
from albert_srl.data import Frame, Sentence
from albert_srl.settings import like, setting, setting_of

logger = logging.getLogger(__name__)

Predicates = list[list[int] | None]


@dataclass
class ServeLimits:
    """What one request may ask for, and how requests are batched together. Each limit is a ``serve``
    flag of the same name; ``serve`` checks them (``settings.check_instance``) before it listens."""

    max_body_bytes: int = setting(1_000_000, low=1, doc="bytes of a request body (413 beyond)")
    max_sentences: int = setting(128, low=1, doc="sentences of a request")
    # Half of tag's: a sentence's work grows with its square, and the server bounds one request's (fairness).
    max_words: int = like(TagOptions, "max_words", 256, doc="words of a sentence (413 beyond)")
    max_request_words: int = setting(4096, low=1, doc="words of all sentences of a request together")
    max_text_chars: int = setting(100_000, low=1, doc="characters of `text` / `sentence`")
    # Words alone do not bound the work: 16 sentences of 256 words, every word a predicate, is 1M words
    # of work (229 s) inside every other limit. 40,960 lets through the benchmark's 4,096-word request
    # (36,864 words of work with the predicates the model finds), and bounds the worst to about as long.
    max_frame_words: int = setting(
        40_960, low=1, doc="tagging work of a request: each predicate costs its sentence's words"
    )
    max_queued_requests: int = setting(1024, low=1, high=1_000_000, doc="waiting requests (503 beyond)")
    batch_wait_ms: float = setting(
        5.0, low=0, high=10_000, doc="how long the worker waits for more requests to join a batch"
    )
    batch_words: int = setting(1024, low=1, high=1_000_000, doc="words of work in one batch at most")
    batch_ms: float = setting(
        250.0,
        low=1,
        high=3_600_000,
        doc="and about this long: bounds a small request's wait behind a long one",
    )
    body_timeout_s: float = setting(
        10.0,
        low=0,
        high=3600,
        above=True,
        doc="the whole body must arrive within this (slow clients get 408)",
    )
    header_timeout_s: float = setting(
        10.0,
        low=0,
        high=3600,
        above=True,
        doc="the request line and headers must arrive within this (else 408 and the connection closed)",
    )


class Tagger(Protocol):
    """What the server needs of ``SRLTagger``: sentences in (with their text and word offsets), tagged
    sentences out, arguments with their text and character offsets; given predicates tagged (``tag``),
    or predicates found and tagged on the same lower layers' states, at most ``frame_words`` words of
    them, the others returned found but untagged (``find_and_tag``)."""

    def tag(self, sentences: list[Sentence], predicates: Predicates | None = None) -> list[Sentence]: ...

    def find_and_tag(
        self, sentences: list[Sentence], frame_words: int | None = None
    ) -> tuple[list[Sentence], list[dict[int, float]]]: ...


class RequestError(Exception):
    """A request the server refuses: ``status`` (4xx), the JSON ``field`` at fault and why."""

    def __init__(self, status: int, field: str | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message


@dataclass(eq=False)
class Job:
    """One request's sentences, the units of work left of it, and the future its handler awaits.

    A sentence whose predicates are not given is a ``find`` unit, which tags the predicates it finds in
    the same pass as far as its batch has room; each other predicate is a ``frame`` unit. ``frames``
    collects each sentence's tagged frames.
    """

    sentences: list[Sentence]
    predicates: Predicates
    future: asyncio.Future[list[Sentence]]
    request_field: str | None = None  # the request's field its sentences came from, for errors
    units: deque[Unit] = field(default_factory=deque)
    frames: list[list[Frame]] = field(default_factory=list)
    running: int = 0  # units of this job in the batch being tagged
    frame_words: int = 0  # words of the predicates given or found so far: ``max_frame_words`` bounds it
    served: bool = False  # a unit of it has been in a batch

    def __post_init__(self) -> None:
        self.frames = [[] for _ in self.sentences]
        for i, indices in enumerate(self.predicates):
            if indices is None:
                self.units.append(Unit(self, i, None))
            else:
                self.add_frames(i, indices)

    def add_frames(self, sentence: int, indices: list[int], found: dict[int, float] | None = None) -> None:
        """A frame unit for each predicate of sentence ``sentence``; ``found``: the probabilities of the
        predicates the model found itself, which their frames carry."""
        found = found or {}
        units = [Unit(self, sentence, index, found.get(index)) for index in sorted(set(indices))]
        self.units.extend(units)
        self.frame_words += sum(unit.words for unit in units)

    def add_found(self, sentence: int, found: Found) -> None:
        """What a ``find`` unit of sentence ``sentence`` brought: frames tagged, and predicates to tag."""
        frames, untagged = found
        self.frames[sentence].extend(frames)
        self.frame_words += len(frames) * len(self.sentences[sentence].words)
        self.add_frames(sentence, list(untagged), untagged)

    @property
    def words(self) -> int:
        return sum(len(sentence.words) for sentence in self.sentences)

    @property
    def finished(self) -> bool:
        return not self.units and not self.running

    def result(self) -> list[Sentence]:
        """The request's sentences with their frames; everything else (text, ``char_start``, offsets into
        the request's text) as the splitter gave it."""
        return [
            replace(s, frames=sorted(f, key=lambda frame: frame.predicate.index))
            for s, f in zip(self.sentences, self.frames, strict=True)
        ]


@dataclass(eq=False)
class Unit:
    """Finding the predicates of sentence ``sentence`` of ``job`` and tagging them (``predicate`` None),
    or tagging the arguments of one of its predicates (found by the model with ``found_probability``)."""

    job: Job
    sentence: int
    predicate: int | None
    found_probability: float | None = None

    @property
    def words(self) -> int:
        return len(self.job.sentences[self.sentence].words)

    @property
    def cost(self) -> int:
        """Words of work it is expected to be: a ``find`` unit is its row and the predicates it tags."""
        return self.words * (FIND_ROWS if self.predicate is None else 1)


# A find unit's result: the frames tagged, and the predicates left (index -> the model's probability)
Found = tuple[list[Frame], dict[int, float]]


@dataclass
class Draft:
    """A batch being collected: its units and their words of work, within ``budget``."""

    budget: int
    units: list[Unit] = field(default_factory=list)
    words: int = 0

    def fits(self, unit: Unit) -> bool:
        return not self.units or self.words + unit.cost <= self.budget

    def add(self, job: Job) -> Unit:
        """The next unit of ``job``, into the batch."""
        job.served = True
        job.running += 1
        unit = job.units.popleft()
        self.units.append(unit)
        self.words += unit.cost
        return unit

    @property
    def room(self) -> int:
        """Words of found predicates the ``find`` units may tag in their pass: the budget less the
        batch's rows. So a batch is never more work than its budget, or than its one unit's row."""
        return max(0, self.budget - sum(unit.words for unit in self.units))


class BatchFailed(Exception):
    """The tagger raised on the batch a request was in."""


class Batcher:
    """Queues requests and tags their units of work in interleaved batches, in a thread.

    One worker task (``run``) owns the tagger, so the model never runs two batches at once.
    """

    def __init__(self, tagger: Tagger, limits: ServeLimits) -> None:
        self.tagger = tagger
        self.max_frame_words = limits.max_frame_words
        # Whatever the limits say, a batch holds a unit and the waits are finite: a budget of 0 words
        # once made ``collect`` return empty batches without awaiting, and the event loop spun for ever.
        self.wait_s = clamp(limits.batch_wait_ms / 1000, 0.0, MAX_WAIT_S)
        self.batch_words = int(clamp(limits.batch_words, 1, MAX_BATCH_WORDS))
        self.batch_s = clamp(limits.batch_ms / 1000, MIN_BATCH_S, MAX_BATCH_S)
        self.seconds_per_word: float | None = None  # measured on the batches run so far (moving average)
        # asyncio reads a maxsize of 0 or less as "no limit": at least one request waits.
        queued = int(clamp(limits.max_queued_requests, 1, MAX_BATCH_WORDS))
        self.queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=queued)
        self.active: deque[Job] = deque()  # jobs taken from the queue with units left, in turn order
        self.rotation_first = False  # the last batch passed over the jobs being served: they go first
        self.jobs: set[Job] = set()  # every job not answered yet, wherever it is
        self.stopping = False
        self.loop: asyncio.AbstractEventLoop | None = None

    def stop(self) -> None:
        """Shutting down: every waiting request is answered 503 now, and new ones are refused; only the
        batch in flight (``batch_words`` of work) is finished."""
        self.stopping = True
        for job in list(self.jobs):
            if not job.future.done():
                job.future.set_exception(RequestError(503, None, "the server is shutting down"))

    def stop_threadsafe(self) -> None:
        """``stop`` from a signal handler or another thread."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.stop)

    async def tag(
        self,
        sentences: list[Sentence],
        predicates: Predicates,
        gone: Callable[[], Awaitable[bool]] | None = None,
        request_field: str | None = None,
    ) -> list[Sentence]:
        """The tagged ``sentences``, once all their units are done. ``gone`` says whether the client has
        disconnected; then the request's remaining work is dropped. ``request_field`` is named in the
        413 of a request whose predicates are more work than ``max_frame_words``."""
        if self.stopping:
            raise RequestError(503, None, "the server is shutting down")
        job = Job(sentences, predicates, asyncio.get_running_loop().create_future(), request_field)
        self.check_work(job)
        if job.finished:  # no predicate given in any sentence: nothing to tag, and no unit to answer it
            return job.result()
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:
            raise RequestError(503, None, "the server is busy: too many queued requests") from None
        self.jobs.add(job)
        job.future.add_done_callback(lambda _: self.jobs.discard(job))
        while gone is not None and not job.future.done():
            await asyncio.wait({job.future}, timeout=DISCONNECT_POLL_S)
            if not job.future.done() and await gone():
                job.future.cancel()  # the worker skips the units of a cancelled job
                logger.info("a client disconnected: its remaining work is dropped")
        return await job.future

    def check_work(self, job: Job) -> None:
        """Refuse (413) a job whose frames are more words of work than ``max_frame_words``."""
        if job.frame_words > self.max_frame_words:
            message = (
                f"the predicates ask for {job.frame_words:,} words of tagging (each predicate costs its "
                f"sentence's words), over the limit of {self.max_frame_words:,} a request"
            )
            raise RequestError(413, job.request_field, message)

    def refuse_over_work(self, job: Job) -> None:
        """``check_work`` once the model has found a sentence's predicates: the request is answered."""
        try:
            self.check_work(job)
        except RequestError as error:
            if not job.future.done():
                job.future.set_exception(error)

    async def run(self) -> None:
        """The worker loop: collect a batch, tag it, answer; forever."""
        self.loop = asyncio.get_running_loop()
        while True:
            await self.tag_units(*await self.collect())

    def take_new_jobs(self) -> None:
        while not self.queue.empty():
            self.active.append(self.queue.get_nowait())

    def budget(self) -> int:
        """Words of work in the next batch: ``batch_ms`` worth at the speed measured so far, at most
        ``batch_words`` (a batch always holds at least one unit)."""
        if self.seconds_per_word is None:
            return self.batch_words
        return int(clamp(self.batch_s / self.seconds_per_word, 1, self.batch_words))

    def measured(self, words: int, seconds: float) -> None:
        if words and seconds > 0:  # a clock too coarse to see the batch says nothing of the speed
            rate = seconds / words
            self.seconds_per_word = (
                rate if self.seconds_per_word is None else 0.7 * self.seconds_per_word + 0.3 * rate
            )

    async def collect(self) -> tuple[list[Unit], int]:
        """The next batch, and the words of found predicates its ``find`` units may tag in their pass
        (what is left of the budget after the batch's rows).

        First the first unit of each request not served yet, then slices of the others in turn, one a
        request a round, while they fit in ``budget`` words of work (a batch's first unit always
        does): a small request that arrives while a long one is tagged is the next batch, alone if the
        long one's next unit does not fit beside it. So that arrivals never starve the requests being
        served, a batch that passed them over is followed by one that serves them first. When few are
        waiting, requests arriving within ``wait_s`` join too. It awaits a job with work left before
        it returns, so it never returns an empty batch."""
        await self.wait_for_work()
        deadline = asyncio.get_running_loop().time() + self.wait_s
        batch = Draft(self.budget())
        self.take_new_jobs()
        rotation = {id(job) for job in self.active if job.served and job.units and not job.future.done()}
        while True:
            self.take_new_jobs()
            if self.rotation_first:
                self.take_in_turn(batch)
                self.take_new_requests(batch)
            else:
                self.take_new_requests(batch)
                self.take_in_turn(batch)
            remaining = deadline - asyncio.get_running_loop().time()
            if batch.words >= batch.budget or remaining <= 0:
                break
            try:
                self.active.append(await asyncio.wait_for(self.queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        self.rotation_first = bool(rotation) and not any(id(unit.job) in rotation for unit in batch.units)
        return batch.units, batch.room

    def take_new_requests(self, batch: Draft) -> None:
        """The first unit of each job not served yet, in arrival order, where it fits."""
        for job in [job for job in self.active if not job.served and not job.future.done()]:
            if job.units and batch.fits(job.units[0]):
                batch.add(job)

    def take_in_turn(self, batch: Draft) -> None:
        """Slices from the active jobs in turn, one a job a round, until the next does not fit. A slice
        is a unit and the job's next frame units of the same sentence that fit beside it: they share
        the sentence's lower layers."""
        while self.active:
            job = self.active[0]
            if not job.units or job.future.done():
                self.active.popleft()  # answered, cancelled, or its last unit is being tagged
            elif not batch.fits(job.units[0]):
                return  # it keeps its turn: its unit starts a later batch
            else:
                self.active.popleft()
                sentence = batch.add(job).sentence
                while job.units and job.units[0].sentence == sentence and batch.fits(job.units[0]):
                    batch.add(job)
                if job.units:
                    self.active.append(job)  # to the back: the next job's slice comes first

    async def wait_for_work(self) -> None:
        """Until a job with units left is active (jobs answered or cancelled meanwhile are dropped)."""
        while True:
            self.take_new_jobs()
            self.active = deque(job for job in self.active if not job.future.done() and job.units)
            if self.active:
                return
            self.active.append(await self.queue.get())

    async def tag_units(self, units: list[Unit], room: int) -> None:
        """Run a batch's units (its ``find`` units tagging up to ``room`` words of the predicates they
        find) and hand each job its results; a job whose units are all done is answered. A unit the
        tagger fails on fails its request alone (500); the other requests go on."""
        live = [unit for unit in units if not unit.job.future.done()]
        started = time.perf_counter()
        outcomes = await self.outcomes(live, room)
        self.measured(work_done(live, outcomes), time.perf_counter() - started)
        for unit, outcome in zip(live, outcomes, strict=True):
            job = unit.job
            if isinstance(outcome, Exception):
                if not job.future.done():
                    job.future.set_exception(BatchFailed(f"{type(outcome).__name__}: {outcome}"))
            elif unit.predicate is None:
                job.add_found(unit.sentence, outcome)
                self.refuse_over_work(job)
            else:
                job.frames[unit.sentence].extend(outcome)
        self.release(units)
        for job in {id(unit.job): unit.job for unit in units}.values():
            if job.units and job not in self.active and not job.future.done():
                self.active.append(job)

    async def outcomes(self, units: list[Unit], room: int) -> list[Any]:
        """Each unit's result, or the exception it failed with: a failed batch is retried one by one."""
        if not units:
            return []
        try:
            return await asyncio.to_thread(self.run_units, units, room)
        except Exception as error:
            if len(units) == 1:
                logger.exception("tagging a request failed")
                return [error]
            logger.warning("a batch of %d units failed (%r): running them one by one", len(units), error)
            return [(await self.outcomes([unit], room))[0] for unit in units]

    def release(self, units: list[Unit]) -> None:
        for unit in units:
            unit.job.running -= 1
        for job in {id(unit.job): unit.job for unit in units}.values():
            if job.finished and not job.future.done():
                job.future.set_result(job.result())

    def run_units(self, units: list[Unit], room: int) -> list[Any]:
        """In the worker thread: one result a unit, in order: the frames tagged and the predicates left
        (``find`` units: ``Found``), or the frames tagged (``frame`` units)."""
        finds = [unit for unit in units if unit.predicate is None]
        found: list[Found] = []
        if finds:
            with_found, left = self.tagger.find_and_tag([u.job.sentences[u.sentence] for u in finds], room)
            if len(with_found) != len(finds) or len(left) != len(finds):
                raise RuntimeError("the tagger returned another number of sentences than it was given")
            found = [(sentence.frames, indices) for sentence, indices in zip(with_found, left, strict=True)]
        # The frame units of one sentence go to the tagger as one sentence with those predicates: it
        # encodes a sentence's lower layers once for all of them.
        sentences: dict[tuple[int, int], list[Unit]] = {}
        for unit in units:
            if unit.predicate is not None:
                sentences.setdefault((id(unit.job), unit.sentence), []).append(unit)
        groups = list(sentences.values())
        tagged = (
            self.tagger.tag(
                [group[0].job.sentences[group[0].sentence] for group in groups],
                [[u.predicate for u in group if u.predicate is not None] for group in groups],
            )
            if groups
            else []
        )
        if len(tagged) != len(groups):
            raise RuntimeError("the tagger returned another number of sentences than it was given")
        by_unit: dict[int, Any] = {id(u): r for u, r in zip(finds, found, strict=True)}
        for group, sentence in zip(groups, tagged, strict=True):
            frames = {frame.predicate.index: frame for frame in sentence.frames}
            for unit in group:  # a predicate the model found keeps how sure it was
                if unit.predicate in frames and unit.found_probability is not None:
                    frames[unit.predicate].predicate.probability = unit.found_probability
            by_unit.update({id(u): [frames[u.predicate]] if u.predicate in frames else [] for u in group})
        return [by_unit[id(unit)] for unit in units]


def work_done(units: list[Unit], outcomes: list[Any]) -> int:
    """Words of work a batch did: each unit's row, and each frame a ``find`` unit tagged in its pass."""
    tagged = sum(
        len(outcome[0]) * unit.words
        for unit, outcome in zip(units, outcomes, strict=True)
        if unit.predicate is None and not isinstance(outcome, Exception)
    )
    return sum(unit.words for unit in units) + tagged


def clamp(value: float, low: float, high: float) -> float:
    """``value`` within ``[low, high]``; NaN is ``low``."""
    return low if math.isnan(value) else min(max(value, low), high)


DISCONNECT_POLL_S = 0.25  # how often a waiting handler checks that its client is still there
# A find unit's expected work in rows of its sentence: the row that finds the predicates and about three
# predicates tagged in the same pass (EWT averages 2.5 a sentence; SRLTagger budgets its finding batches
# alike, ``ROWS_PER_FOUND_SENTENCE``).
FIND_ROWS = 4
# Bounds the batcher keeps whatever its limits say: the limits' declared ranges (``serve`` checks them; a
# ``Batcher`` built in code may be given anything).
MAX_WAIT_S = float(setting_of(ServeLimits, "batch_wait_ms").high or 0) / 1000
MAX_BATCH_WORDS = int(setting_of(ServeLimits, "batch_words").high or 0)
MIN_BATCH_S = float(setting_of(ServeLimits, "batch_ms").low or 0) / 1000
MAX_BATCH_S = float(setting_of(ServeLimits, "batch_ms").high or 0) / 1000
