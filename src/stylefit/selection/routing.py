"""Per-question routing: a new candidate set made of, for each question, the correct response the
target finds most familiar across all strategies.

The idea of GRAPE (arXiv 2502.04194): instead of one strategy for the whole set, pick per
question. Any per-example scorer can do the picking; the result is named ``routed:<scorer>`` and
trains, scores and verifies like any strategy.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from stylefit.core.errors import StylefitError
from stylefit.core.store import Store
from stylefit.data.candidates import ROUTED_PREFIX, ROUTING_SUFFIX, CandidateSet, load_candidates
from stylefit.data.jsonl import write_atomic
from stylefit.data.records import FieldMap
from stylefit.data.task import Task, load_task
from stylefit.data.verifiers import check
from stylefit.models.base import LanguageModel
from stylefit.scoring import Scorer, get_scorer, score_sample


@dataclass
class RoutedSet:
    name: str  # "routed:<scorer>"
    scorer: str
    scorer_params: dict[str, Any]
    higher_is_better: bool
    rows: list[dict[str, Any]]  # id, response, from (the strategy it came from), score
    no_correct: list[str] = field(default_factory=list)  # questions no strategy answered correctly (left out)
    ties: int = 0  # questions where correct strategies tied for the best score: the first in order was taken

    @property
    def composition(self) -> dict[str, float]:
        """Share of the routed set each strategy supplied, largest first."""
        counts = Counter(row["from"] for row in self.rows)
        return {s: c / len(self.rows) for s, c in counts.most_common()}

    def write(self, folder: str | Path) -> Path:
        """``<folder>/<name>.jsonl`` (a candidate file) and ``<name>.routing.json`` beside it (composition, left out)."""
        folder = Path(folder)
        path = folder / f"{self.name}.jsonl"
        write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.rows))
        summary = {"name": self.name, "scorer": self.scorer, "scorer_params": self.scorer_params, "questions": len(self.rows),
                   "composition": self.composition, "no_correct": self.no_correct, "ties": self.ties}
        write_atomic(folder / f"{self.name}{ROUTING_SUFFIX}", json.dumps(summary, indent=2) + "\n")
        return path


def route(
    task: Task | str | Path,
    candidates: CandidateSet | str | Path | list[str | Path],
    *,
    target: str | LanguageModel = "smollm2-135m-instruct",
    scorer: str | Scorer = "ppl",
    scorer_params: dict[str, Any] | None = None,
    store: Store | str | Path | None = None,
    progress=None,
    fields: FieldMap | None = None,
    device: str = "auto",
    dtype: str = "auto",
) -> RoutedSet:
    """For every question of the candidate sets: among the strategies whose response the task's
    verifier accepts, the one the scorer finds most familiar. A tie goes to the first of the tied
    strategies in the candidate set's order, and is counted (``ties``). Questions no strategy
    answered correctly are left out and listed."""
    task = task if isinstance(task, Task) else load_task(task)
    candidates = candidates if isinstance(candidates, CandidateSet) else load_candidates(task, candidates, fields)
    scorer = scorer if isinstance(scorer, Scorer) else get_scorer(scorer, **(scorer_params or {}))
    if type(scorer).sample_scores is not Scorer.sample_scores:
        raise StylefitError(f"scorer '{scorer.name}' does not score each (strategy, question) pair, so it cannot route")
    store = store if isinstance(store, Store) else Store(store)
    verifier = task.verifier
    if isinstance(target, str):
        from stylefit.models import load_model

        lm = load_model(target, device=device, dtype=dtype)
    else:
        lm = target

    def stage(name: str, total: int):
        if progress is None:
            return None
        progress(name, total, 0)
        return lambda k: progress(name, total, k)

    ids = list(candidates.ids)
    scorer.prepare(lm, candidates, ids, store, stage("target answers", scorer.prepare_units(candidates, ids)))
    if excluded := scorer.excluded():
        raise StylefitError(f"scorer '{scorer.name}' could not score {len(excluded)} questions (e.g. '{sorted(excluded)[0]}'); "
                            "routing needs a score for every question")
    sample = score_sample(scorer, lm, candidates, ids, store, stage(f"scoring ({scorer.name})", len(ids) * len(candidates.strategies)))
    sign = -1.0 if scorer.higher_is_better else 1.0
    rows, no_correct, ties = [], [], 0
    for position, qid in enumerate(sample.ids):
        question = task.get(qid)
        best, values = None, []
        for strategy in candidates.strategies:
            candidate = candidates.by_strategy[strategy][qid]
            if not check(verifier, candidate.response, question.gold, question.metadata).correct:
                continue
            value = sample.by_strategy[strategy][position].value
            values.append(value)
            if best is None or sign * value < sign * best[1]:  # strictly better: a tie keeps the earlier strategy
                best = (strategy, value, candidate.response)
        if best is None:
            no_correct.append(qid)
        else:
            ties += values.count(best[1]) > 1
            rows.append({"id": qid, "response": best[2], "from": best[0], "score": best[1]})
    if not rows:
        raise StylefitError(f"no question has a correct response in any of {', '.join(candidates.strategies)}")
    params = scorer.params()
    return RoutedSet(f"{ROUTED_PREFIX}{scorer.name}", scorer.name, params, scorer.higher_is_better, rows, no_correct, ties)


def router(scorer: str) -> Callable[..., RoutedSet]:
    """``route`` with this scorer: how ``generate`` writes a routed:<scorer> set (``stylefit.api.generate``
    passes it in). An unknown scorer fails here, before any generation."""
    get_scorer(scorer)
    return partial(route, scorer=scorer)
