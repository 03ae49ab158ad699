"""The scorer protocol: a scorer turns one candidate into continuation requests and their
log-probabilities back into one per-example score. It knows nothing of files or the CLI.

And the engine that runs a scorer over a sample of candidates through the cache (``score_sample``):
it computes only what is missing, commits every chunk (a killed run resumes), and refuses or counts
over-long sequences.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, ClassVar

from stylefit.core.errors import StylefitError
from stylefit.core.store import Store, content_key
from stylefit.data.candidates import Candidate, CandidateSet
from stylefit.models.base import ContinuationRequest, ContinuationScore, LanguageModel, Progress

SCORE_KIND = "score"  # per-example scores in the store


@dataclass(frozen=True)
class ScoringItem:
    candidate: Candidate
    position: int  # index of the question among the candidate set's questions (not the sample's)

    @property
    def label(self) -> str:
        return f"strategy '{self.candidate.strategy}' id '{self.candidate.id}'"


@dataclass(frozen=True)
class ExampleScore:
    value: float  # the per-example score in the scorer's unit
    nll: float | None  # mean token negative log-likelihood (nats), where the scorer has one
    n_tokens: int  # response tokens
    # (numerator, denominator) for a scorer whose strategy statistic is a ratio of means
    parts: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):  # a NaN or inf would silently poison every ranking
            raise StylefitError(f"non-finite score {self.value}")


class Scorer(ABC):
    """One familiarity measure. Lower is more familiar unless ``higher_is_better``."""

    name: ClassVar[str]
    version: ClassVar[str]  # bump when a change alters the values: old cache entries stop matching
    unit: ClassVar[str]
    higher_is_better: ClassVar[bool] = False
    # How a strategy's per-example scores become its statistic: their mean, or (ratio_of_means)
    # mean(numerators) / mean(denominators) over ExampleScore.parts
    ratio_of_means: ClassVar[bool] = False

    def params(self) -> dict[str, Any]:
        """Everything besides the model and the item that the score depends on (for the cache key)."""
        return {}

    needs_logprobs: ClassVar[bool] = True  # False: token counts suffice, no forward pass

    def prepare(self, lm: LanguageModel, candidates: CandidateSet, ids: list[str], store: Store,
                progress: Progress | None = None) -> list[str]:
        """One-off work before scoring the questions ``ids`` (e.g. the target's own answers);
        returns notes for the report."""
        return []

    def held_out_questions(self) -> int:
        """Training questions outside the sample that scoring answers besides it (a proxy's validation)."""
        return 0

    def excluded(self) -> set[str]:
        """Question ids ``prepare`` found unscorable; they are left out for every strategy (and counted)."""
        return set()

    def sample_scores(self, lm: LanguageModel, candidates: CandidateSet, ids: list[str], store: Store,
                      progress: Progress | None = None, skip_overlong: bool = False):
        """Per-example scores of every strategy, paired: by default one per sampled question through
        the caching engine. A scorer measured on other questions (``proxy``) overrides this."""
        return score_sample(self, lm, candidates, ids, store, progress, skip_overlong)

    def prepare_units(self, candidates: CandidateSet, ids: list[str]) -> int:
        """How many progress units ``prepare`` will report."""
        return 0

    @abstractmethod
    def requests(self, lm: LanguageModel, item: ScoringItem) -> list[ContinuationRequest]:
        """The (context, response) texts the score is computed on: they bound its length and key its cache entry."""

    def cache_parts(self, item: ScoringItem) -> dict[str, Any]:
        """What else, beyond ``requests``, this item's score depends on (e.g. the target's samples)."""
        return {}

    def compute(self, lm: LanguageModel, items: list[ScoringItem], requests: list[list[ContinuationRequest]]) -> list[ExampleScore]:
        """Scores of a chunk of items; by default from the continuations' log-probabilities."""
        flat = [r for reqs in requests for r in reqs]
        results = lm.loglikelihood(flat) if self.needs_logprobs else lm.count_tokens(flat)
        scores, offset = [], 0
        for item, reqs in zip(items, requests):
            try:
                scores.append(self.combine(item, results[offset : offset + len(reqs)]))
            except StylefitError as e:
                raise StylefitError(f"{item.label}: {e}") from None
            offset += len(reqs)
        return scores

    def combine(self, item: ScoringItem, results: list[ContinuationScore]) -> ExampleScore:
        """One item's score from its requests' results (for scorers that use the default ``compute``)."""
        raise NotImplementedError


_REGISTRY: dict[str, type[Scorer]] = {}


def register(cls: type[Scorer]) -> type[Scorer]:
    _REGISTRY[cls.name] = cls
    return cls


def scorer_names() -> list[str]:
    return sorted(_REGISTRY)


def template_parameter(name: str) -> str | None:
    """The parameter that names a registered scorer's prompt template ('template'; SPPL's 'variant'), or None
    for a scorer that always uses the target's own template (or none)."""
    import inspect

    if name not in _REGISTRY:
        return None
    taken = inspect.signature(_REGISTRY[name].__init__).parameters
    return next((p for p in ("template", "variant") if p in taken), None)


def get_scorer(name: str, **params: Any) -> Scorer:
    """A scorer by name; unknown names and parameters are clear errors."""
    if name not in _REGISTRY:
        raise StylefitError(f"unknown scorer '{name}' (known: {', '.join(scorer_names())})")
    try:
        return _REGISTRY[name](**params)
    except TypeError as e:
        raise StylefitError(f"scorer '{name}': {e}") from None


# All strategies of a block of this many questions (by position in the candidate set) are scored
# in one batch and committed together. Blocks are fixed, so a run resumed after a kill computes a
# block exactly as an uninterrupted run does: the same batch, the same bits.
QUESTIONS_PER_CHUNK = 8


@dataclass
class SampleScores:
    """Per-example scores of every strategy on the same questions (paired)."""

    ids: list[str]
    by_strategy: dict[str, list[ExampleScore]]
    skipped: dict[str, str] = field(default_factory=dict)  # question id -> why it was left out
    computed: int = 0  # per-example scores (a proxy: fine-tunes) computed in this run, the rest from the cache
    # a fine-tuning scorer's runs, each at what it cost when it was computed, stored ones included: the
    # clock of this call misses what another scorer or an interrupted call ran and stored (None: no runs)
    runs_s: float | None = None


def score_sample(
    scorer: Scorer,
    lm: LanguageModel,
    candidates: CandidateSet,
    ids: list[str],
    store: Store,
    progress: Progress | None = None,
    skip_overlong: bool = False,
) -> SampleScores:
    items = [ScoringItem(candidates.by_strategy[s][qid], candidates.position(qid)) for qid in ids for s in candidates.strategies]
    requests = [scorer.requests(lm, item) for item in items]
    base = {"kind": SCORE_KIND, "model": lm.revision, "template": lm.template_id, "scorer": scorer.name,
            "version": scorer.version, "params": scorer.params()} | ({"bos_prefix": True} if lm.bos_prefix else {})
    if scorer.needs_logprobs:  # token counts do not depend on the floating-point type; log-probabilities do
        base["dtype"] = lm.dtype
    keys = [
        content_key(base | {"requests": [[r.context, r.continuation, r.special_tokens] for r in reqs]} | scorer.cache_parts(item))
        for item, reqs in zip(items, requests)
    ]
    found = store.get_many(keys)
    if progress:
        progress(sum(k in found for k in keys))

    # Over-long sequences: an error naming the item, or (if asked) the whole question is dropped
    # for every strategy, so that the comparison stays paired.
    skipped: dict[str, str] = {}
    missing = [i for i, k in enumerate(keys) if k not in found]
    for i in missing:
        for count in lm.count_tokens(requests[i]):
            if lm.max_length is not None and count.total > lm.max_length:  # a server enforces its own (an error naming the item)
                reason = f"{count.total} tokens > context {lm.max_length}"
                if not skip_overlong:
                    raise StylefitError(
                        f"{items[i].label}: {reason}; nothing is truncated (pass --skip-overlong to drop such questions, counted)"
                    )
                skipped.setdefault(items[i].candidate.id, f"{items[i].label}: {reason}")
    todo = [i for i in missing if items[i].candidate.id not in skipped]

    by_question: dict[int, list[int]] = defaultdict(list)
    for i in todo:
        by_question[items[i].position].append(i)
    blocks: dict[int, list[int]] = defaultdict(list)
    for p in sorted(by_question):
        blocks[p // QUESTIONS_PER_CHUNK].append(p)
    in_blocks = [[i for p in blocks[b] for i in by_question[p]] for b in sorted(blocks)]
    chunks = {content_key({"unit": "score-block", "keys": [keys[i] for i in chunk]}): chunk for chunk in in_blocks}

    def compute(unit: str) -> None:
        chunk = chunks[unit]
        t = time.perf_counter()
        scores = scorer.compute(lm, [items[i] for i in chunk], [requests[i] for i in chunk])
        fresh = {keys[i]: score.__dict__ for i, score in zip(chunk, scores)}
        store.put_many(SCORE_KIND, fresh, seconds=time.perf_counter() - t)
        found.update(fresh)
        if progress:
            progress(len(chunk))

    def computed_elsewhere(unit: str) -> None:  # by another process sharing the store
        found.update(store.get_many([keys[i] for i in chunks[unit]]))
        if progress:
            progress(len(chunks[unit]))

    written_before = store.written[SCORE_KIND]
    store.compute_claimed({u: [keys[i] for i in c] for u, c in chunks.items()}, compute, computed_elsewhere)
    if progress and skipped:
        progress(sum(1 for i in missing if items[i].candidate.id in skipped))

    kept = [qid for qid in ids if qid not in skipped]
    by_strategy: dict[str, list[ExampleScore]] = {s: [] for s in candidates.strategies}
    for item, key in zip(items, keys):
        if item.candidate.id not in skipped:
            by_strategy[item.candidate.strategy].append(ExampleScore(**_from_store(found[key])))
    return SampleScores(kept, by_strategy, skipped, computed=store.written[SCORE_KIND] - written_before)


def _from_store(entry: dict) -> dict:
    """JSON turns the parts tuple into a list; ExampleScore is hashable and frozen, so restore it."""
    return entry | {"parts": tuple(entry["parts"])} if entry.get("parts") is not None else entry
