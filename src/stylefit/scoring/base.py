"""The scorer protocol: a scorer turns one candidate into continuation requests and their
log-probabilities back into one per-example score. It knows nothing of files, caching or the CLI.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from stylefit.data.candidates import Candidate, CandidateSet
from stylefit.errors import StylefitError
from stylefit.models.base import ContinuationRequest, ContinuationScore, LanguageModel, Progress
from stylefit.store import Store


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

    def excluded(self) -> set[str]:
        """Question ids ``prepare`` found unscorable; they are left out for every strategy (and counted)."""
        return set()

    def sample_scores(self, lm: LanguageModel, candidates: CandidateSet, ids: list[str], store: Store,
                      progress: Progress | None = None, skip_overlong: bool = False):
        """Per-example scores of every strategy, paired: by default one per sampled question through
        the caching engine. A scorer measured on other questions (``proxy``) overrides this."""
        from stylefit.scoring.engine import score_sample

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


def get_scorer(name: str, **params: Any) -> Scorer:
    """A scorer by name; unknown names and parameters are clear errors."""
    if name not in _REGISTRY:
        raise StylefitError(f"unknown scorer '{name}' (known: {', '.join(scorer_names())})")
    try:
        return _REGISTRY[name](**params)
    except TypeError as e:
        raise StylefitError(f"scorer '{name}': {e}") from None
