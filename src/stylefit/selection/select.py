"""The main job, ``stylefit.select``: score a sample of every strategy and rank the strategies; its result."""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from stylefit.core.errors import StylefitError, TooFewQuestions
from stylefit.core.store import Store
from stylefit.data.candidates import CandidateSet, load_candidates
from stylefit.data.records import FieldMap
from stylefit.data.task import Task, load_task
from stylefit.models.base import LanguageModel
from stylefit.models.registry import DEFAULT_MODEL
from stylefit.models.sampling import GENERATION_KIND
from stylefit.scoring import Scorer, get_scorer
from stylefit.scoring.base import SCORE_KIND
from stylefit.scoring.grace import GRADIENT_KIND
from stylefit.selection.bootstrap import Ranking, StrategyEstimate, rank_strategies

WORK_KINDS = (GENERATION_KIND, SCORE_KIND, GRADIENT_KIND)  # the stored values a selection's cost is made of

# progress(stage, total, advance): a stage starts with advance=0 and its total; then advances.
StageProgress = Callable[[str, int, int], None]


@dataclass
class SelectionResult:
    task: str
    target: str
    revision: str
    dtype: str
    scorer: str
    scorer_params: dict[str, Any]
    unit: str
    higher_is_better: bool
    sample_ids: list[str]
    ranking: Ranking
    skipped: dict[str, str]
    notes: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    computed: int = 0  # per-example scores (a proxy: fine-tunes) computed now, the rest from the cache
    # values used (target answers, scores) whose compute seconds the store did not record: ``timings["cold_s"]``,
    # what the call would cost with nothing cached, leaves them out (a lower bound when above 0)
    unrecorded: int = 0
    # strategy -> {"value", "nll", "n_tokens"}: one list per field, in the order of sample_ids
    per_example: dict[str, dict[str, list]] = field(default_factory=dict)
    template_id: str = ""  # hash of the target's chat template ("none" without one)
    # the N questions asked, and how many of them the scorer used (scored; a proxy: trained on) after those left
    # out for every strategy (a response cut, excluded by the scorer, over-long); 0 in results written before
    n_asked: int = 0
    n_used: int = 0
    versions: dict[str, str] = field(default_factory=dict)  # python and the libraries the numbers came from

    @property
    def best(self) -> str | None:
        """The pick; None when strategies tie for first (``tied_best`` names them): a tie is never broken by file order."""
        tied = self.ranking.tied_best
        return tied[0] if len(tied) == 1 else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["best"] = self.best
        d["tied_best"] = self.ranking.tied_best
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SelectionResult":
        """The inverse of ``to_dict`` (e.g. a result JSON written by ``select --out``)."""
        fields = {k: v for k, v in data.items() if k not in ("best", "tied_best")}
        ranking = dict(fields.pop("ranking"))
        ranking["estimates"] = [StrategyEstimate(**e) for e in ranking["estimates"]]
        ranking["top_two_diff"] = tuple(ranking["top_two_diff"])
        return cls(**fields, ranking=Ranking(**ranking))


def _sample_ids(candidates: CandidateSet, n: int, seed: int | None) -> list[str]:
    if n < 2:
        raise StylefitError(f"n must be at least 2, got {n}")
    if n > len(candidates.ids):
        raise StylefitError(f"n={n} but the candidate sets share only {len(candidates.ids)} questions")
    if seed is None:
        return candidates.ids[:n]  # the first N, as the paper's blocks
    return sorted(random.Random(seed).sample(candidates.ids, n), key=candidates.ids.index)


def select(
    task: Task | str | Path,
    candidates: CandidateSet | str | Path | list[str | Path],
    *,
    target: str | LanguageModel = DEFAULT_MODEL,
    scorer: str | Scorer = "ppl",
    scorer_params: dict[str, Any] | None = None,
    n: int = 50,
    sample_seed: int | None = None,
    store: Store | str | Path | None = None,
    skip_overlong: bool = False,
    n_bootstrap: int = 2000,
    bootstrap_seed: int = 0,
    device: str = "auto",
    dtype: str = "auto",
    token_budget: int | None = None,
    progress: StageProgress | None = None,
    fields: FieldMap | None = None,
) -> SelectionResult:
    """Score a sample of N questions for every strategy and rank the strategies.

    ``target`` is a registered model name, a local Hugging Face folder, a hub id or a loaded
    LanguageModel. ``sample_seed=None`` takes the first N questions; an int draws N at random.
    ``device``, ``dtype`` and ``token_budget`` say how a named target is loaded (see
    ``stylefit.models.load_model``); a loaded LanguageModel keeps its own. ``fields`` names the
    id, question and response fields of flat candidate rows (see ``load_candidates``).
    """
    from stylefit.core.versions import library_versions

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    task = task if isinstance(task, Task) else load_task(task)
    candidates = candidates if isinstance(candidates, CandidateSet) else load_candidates(task, candidates, fields)
    scorer = scorer if isinstance(scorer, Scorer) else get_scorer(scorer, **(scorer_params or {}))
    store = store if isinstance(store, Store) else Store(store)
    ids = _sample_ids(candidates, n, sample_seed)
    # Training leaves a response flagged truncated out, so the sample does too, for every strategy (paired).
    cut = {c.id: f"strategy '{c.strategy}' id '{c.id}': flagged truncated by generate's length limit"
           for strategy in candidates.strategies for c in candidates.candidates(strategy, ids) if c.truncated}
    if cut:
        ids = [i for i in ids if i not in cut]
        if len(ids) < 2:
            raise TooFewQuestions(f"only {len(ids)} of {n} questions have no response flagged truncated")

    t = time.perf_counter()
    if isinstance(target, str):
        from stylefit.models import load_model

        lm = load_model(target, device=device, dtype=dtype, token_budget=token_budget)
    else:
        lm = target
    timings["load_model_s"] = time.perf_counter() - t

    def stage(name: str, total: int):
        if progress is None:
            return None
        progress(name, total, 0)
        return lambda k: progress(name, total, k)

    # every value the call reads or computes, at its cost when computed: what the call costs with nothing cached
    with store.ledger(WORK_KINDS) as used:
        t = time.perf_counter()
        notes = scorer.prepare(lm, candidates, ids, store, stage("target answers", scorer.prepare_units(candidates, ids)))
        timings["prepare_s"] = time.perf_counter() - t
        if cut:
            notes.append(f"{len(cut)}/{n} questions dropped for every strategy (a response flagged truncated, never trained on): "
                         + "; ".join(list(cut.values())[:3]))
        if excluded := scorer.excluded():
            ids = [i for i in ids if i not in excluded]
            if len(ids) < 2:
                raise TooFewQuestions(f"only {len(ids)} questions left after the scorer excluded {len(excluded)}")

        t = time.perf_counter()
        sample = scorer.sample_scores(lm, candidates, ids, store,
                                      stage(f"scoring ({scorer.name})", len(ids) * len(candidates.strategies)), skip_overlong)
        timings["score_s"] = time.perf_counter() - t
    if sample.skipped:
        notes.append(f"{len(sample.skipped)}/{len(ids)} questions dropped for every strategy (over-long): "
                     + "; ".join(list(sample.skipped.values())[:3]))
    if len(sample.ids) < 2:
        raise TooFewQuestions(f"only {len(sample.ids)} questions left after skipping over-long ones")

    ranking = rank_strategies(
        {s: np.array([e.value for e in scores]) for s, scores in sample.by_strategy.items()},
        higher_is_better=scorer.higher_is_better,
        nll={s: None if scores[0].nll is None else np.array([e.nll for e in scores]) for s, scores in sample.by_strategy.items()},
        tokens={s: np.array([e.n_tokens for e in scores]) for s, scores in sample.by_strategy.items()},
        n_bootstrap=n_bootstrap,
        seed=bootstrap_seed,
        ratio_parts={s: tuple(np.array(part) for part in zip(*(e.parts for e in scores))) for s, scores in sample.by_strategy.items()}
        if scorer.ratio_of_means else None,
    )
    timings["total_s"] = time.perf_counter() - t0
    if sample.runs_s is not None:  # a proxy: its fine-tunes at what they cost where they ran, stored ones included
        timings["runs_s"] = sample.runs_s
        timings["cold_s"], unrecorded = timings["total_s"] - timings["score_s"] + sample.runs_s, 0
    else:
        timings["cold_s"], unrecorded = used.cold_s(timings["total_s"]), used.unrecorded
    return SelectionResult(
        task=task.name, target=lm.name, revision=lm.revision, dtype=lm.dtype, scorer=scorer.name, scorer_params=scorer.params(),
        unit=scorer.unit, higher_is_better=scorer.higher_is_better, sample_ids=sample.ids, ranking=ranking,
        skipped=cut | sample.skipped, notes=notes, timings=timings, computed=sample.computed, unrecorded=unrecorded,
        per_example={s: {"value": [e.value for e in scores], "nll": [e.nll for e in scores], "n_tokens": [e.n_tokens for e in scores]}
                     | ({"parts": [list(e.parts) for e in scores]} if scorer.ratio_of_means else {})
                     for s, scores in sample.by_strategy.items()},
        template_id=lm.template_id, versions=library_versions(), n_asked=n, n_used=len(ids) - len(sample.skipped),
    )
