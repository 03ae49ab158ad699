"""The adaptive selector: screen every strategy with a cheap familiarity scorer, keep a shortlist,
then spend learnability-proxy fine-tunes on the shortlist only, in rounds that grow, until the
leader is separated from the rest or the budget is spent.

Its parameters were fixed before it was built (benchmarks/adaptive/preregistration.toml); the
defaults of ``AdaptiveSettings`` are those, and a test keeps them equal.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from stylefit.core.errors import StylefitError
from stylefit.core.progress import labelled
from stylefit.core.store import Store
from stylefit.data.candidates import CandidateSet, load_candidates
from stylefit.data.records import FieldMap
from stylefit.data.task import Task, load_task
from stylefit.models.base import GenerationSpec, LanguageModel
from stylefit.models.registry import DEFAULT_MODEL
from stylefit.models.sampling import GENERATION_KIND, ExemplarSet, build_self_exemplars
from stylefit.scoring import get_scorer
from stylefit.selection.bootstrap import paired_difference, rank_strategies
from stylefit.selection.select import SelectionResult, StageProgress, select

SCREEN_OWN_ANSWER_TOKENS = 256  # the own answers' budget: SPPL's default, so the screen's answers are reused


class ProxyRound(BaseModel):
    """One round of proxy fine-tunes: each strategy's responses to the first ``n`` sampled
    questions, ``epochs`` over them, judged on ``validation`` held-out training questions."""

    model_config = ConfigDict(extra="forbid")
    n: int = Field(ge=2)
    epochs: float = Field(gt=0)
    validation: int = Field(ge=2)


# The proxy rounds' recipe the live track judged the selector under (benchmarks/live/live.toml's, less
# its epochs, which each round sets): the default, so that `select --scorer adaptive` is the judged selector.
JUDGED_RECIPE = {"learning_rate": 1e-3, "batch_size": 8, "max_length": 512}


class AdaptiveSettings(BaseModel):
    """Every choice the adaptive selector makes (see the pre-registration for why each is what it is)."""

    model_config = ConfigDict(extra="forbid")
    screen: str = "sppl"
    screen_params: dict[str, Any] = Field(default_factory=dict)
    keep_top: int = Field(3, ge=1)
    keep_inseparable: bool = True  # also keep what the screen cannot separate from its leader
    min_keep: int = Field(2, ge=2)
    min_own_accuracy: float = Field(0.2, ge=0, le=1)  # below: the target cannot solve the task, keep every strategy
    max_length_rho: float = Field(0.9, gt=0, le=1)  # |Spearman(screen, length)| at or above: keep twice as many
    own_answers_m: int = Field(100, ge=1)  # the target's zero-shot answers behind the regime check (SPPL's m)
    rounds: list[ProxyRound] = Field(default_factory=lambda: [ProxyRound(n=25, epochs=1, validation=50),
                                                              ProxyRound(n=50, epochs=2, validation=100)], min_length=1)
    budget_steps: int = Field(0, ge=0)  # fine-tune optimizer steps for the rounds (0: no limit)
    budget_s: float = Field(0, ge=0)  # wall seconds of the rounds' runs (0: no limit)
    recipe: dict[str, Any] = Field(default_factory=lambda: dict(JUDGED_RECIPE))  # fields given here change the judged ones
    seed: int = 0
    dtype: str = "auto"
    n_bootstrap: int = Field(2000, ge=100)

    @field_validator("recipe")
    @classmethod
    def _over_the_judged(cls, recipe: dict[str, Any]) -> dict[str, Any]:
        return JUDGED_RECIPE | recipe


@dataclass
class Cost:
    seconds: float = 0.0  # wall seconds, as the runs and scorers recorded them, cached work included
    steps: int = 0  # fine-tune optimizer steps
    tokens: int = 0  # tokens through the model: trained on (prompts too), generated, and the responses scored
    unrecorded: int = 0  # cached values used whose compute seconds the store did not record (``seconds`` leaves them out)

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.seconds + other.seconds, self.steps + other.steps, self.tokens + other.tokens,
                    self.unrecorded + other.unrecorded)


@dataclass
class Stage:
    name: str  # "screen (sppl)", "proxy round 1 (n=25, 1 epoch, 50 held out)", ...
    table: list[dict[str, Any]]  # per strategy: mean, ci_low, ci_high, p_best, and the paired difference from the leader
    kept: list[str]
    dropped: dict[str, str]  # strategy -> why
    notes: list[str]
    cost: Cost
    computed: int = 0  # fine-tunes run now (the rest came from the store)


@dataclass
class AdaptiveResult:
    task: str
    target: str
    settings: dict[str, Any]
    stages: list[Stage]
    tied_best: list[str]  # the last stage's leader(s)
    p_best: float | None  # the leader's share of bootstrap wins in the last stage
    order: list[str]  # every strategy, most preferred first (survivors, then the later dropped, then the screen's)
    preference: dict[str, float]  # higher = preferred; strategies that tie (a shared rank in their stage) share a value
    stopped: str  # why the rounds ended
    cost: Cost  # all stages
    proxy_on_all: Cost  # what the last round's proxy on every strategy costs, here (steps exact, the rest measured)
    screen: SelectionResult

    @property
    def best(self) -> str | None:
        """The pick; None on a tie (``tied_best`` names them)."""
        return self.tied_best[0] if len(self.tied_best) == 1 else None

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "screen"}
        return d | {"best": self.best, "screen": self.screen.to_dict()}


def select_adaptive(
    task: Task | str | Path,
    candidates: CandidateSet | str | Path | list[str | Path],
    *,
    target: str | LanguageModel = DEFAULT_MODEL,
    settings: AdaptiveSettings | dict[str, Any] | None = None,
    n: int = 50,
    sample_seed: int | None = None,
    store: Store | str | Path | None = None,
    workers: int = 1,
    ray_address: str | None = None,
    resources: dict[str, Any] | None = None,
    device: str = "auto",
    dtype: str = "auto",
    token_budget: int | None = None,
    progress: StageProgress | None = None,
    fields: FieldMap | None = None,
) -> AdaptiveResult:
    """Screen, shortlist, then proxy rounds on the shortlist (see the module's docstring).

    ``n``: the screen's sample, which the rounds' fine-tunes draw from (round r trains on its first
    ``rounds[r].n``); the held-out questions are training questions outside the whole sample.
    ``workers``: a round's fine-tunes at once here; ``ray_address``/``resources``: on Ray instead
    (as ``verify``'s). The rest as ``select``.
    """
    try:
        settings = settings if isinstance(settings, AdaptiveSettings) else AdaptiveSettings(**(settings or {}))
    except Exception as e:  # pydantic: name the first bad field
        from stylefit.core.config_file import first_error

        raise StylefitError(f"adaptive selector: {first_error(e)}") from None
    task = task if isinstance(task, Task) else load_task(task)
    candidates = candidates if isinstance(candidates, CandidateSet) else load_candidates(task, candidates, fields)
    store = store if isinstance(store, Store) else Store(store)
    if max(r.n for r in settings.rounds) > n:
        raise StylefitError(f"adaptive selector: a round trains on {max(r.n for r in settings.rounds)} questions, "
                            f"more than the screen's sample of {n}")
    if isinstance(target, str):
        from stylefit.models import load_model

        lm = load_model(target, device=device, dtype=dtype, token_budget=token_budget)
    else:
        lm = target

    # 1. Screen: the cheap scorer on every strategy, with its paired bootstrap.
    scorer = get_scorer(settings.screen, **settings.screen_params)
    if scorer.ratio_of_means:
        raise StylefitError(f"adaptive selector: the screen '{settings.screen}' ranks by a ratio of means; "
                            "the shortlist's paired intervals need a mean")
    screen = select(task, candidates, target=lm, scorer=scorer, n=n, sample_seed=sample_seed, store=store,
                    n_bootstrap=settings.n_bootstrap, bootstrap_seed=settings.seed, progress=progress)
    exemplars = getattr(scorer, "exemplars", None)
    own_s, own_unrecorded = 0.0, 0
    if not isinstance(exemplars, ExemplarSet):  # a screen that makes no own answers: make them (cached)
        t = time.perf_counter()
        with store.ledger([GENERATION_KIND]) as used:  # cached ones at what they cost when generated
            exemplars = build_self_exemplars(lm, task, settings.own_answers_m, GenerationSpec(max_new_tokens=SCREEN_OWN_ANSWER_TOKENS), store)
        own_s, own_unrecorded = used.cold_s(time.perf_counter() - t), used.unrecorded
    order = [e.strategy for e in screen.ranking.estimates]
    values = {s: np.array(screen.per_example[s]["value"], dtype=float) for s in order}
    table = _table(screen.ranking, values, settings)

    # 2. Regime check, from what the screen computed.
    notes = list(screen.notes)
    own_accuracy = exemplars.correct / exemplars.answered if exemplars.answered else 0.0
    unsolved = own_accuracy < settings.min_own_accuracy
    if unsolved:
        notes.append(f"regime: the target answers {exemplars.correct}/{exemplars.answered} training questions correctly "
                     f"(under {settings.min_own_accuracy:.0%}): familiarity is known to mislead here, so every strategy goes on")
    length_rho = _length_rho(screen)
    by_length = length_rho is not None and abs(length_rho) >= settings.max_length_rho
    if by_length:
        notes.append(f"regime: the screen's preference follows response length (Spearman {length_rho:+.2f} over the "
                     f"strategies): twice as many go on ({2 * settings.keep_top})")

    # 3. Shortlist.
    keep_top = len(order) if unsolved else max(settings.min_keep, settings.keep_top * (2 if by_length else 1))
    kept, dropped = shortlist(table, keep_top, settings.keep_inseparable)
    screen_cost = Cost(seconds=screen.timings["cold_s"] + own_s, tokens=sum(sum(per["n_tokens"]) for per in screen.per_example.values()),
                       unrecorded=screen.unrecorded + own_unrecorded)
    stages = [Stage(f"screen ({settings.screen})", table, list(kept), dropped, notes, screen_cost)]

    # 4. Proxy rounds on the shortlist, each larger than the last.
    from stylefit.scoring.proxy import proxy_runs
    from stylefit.training.runs import distinct_runs
    from stylefit.training.recipe import Recipe

    sampled = set(screen.sample_ids)
    pool = [q for q in task.train if q.id not in sampled]
    sample_order = [i for i in candidates.ids if i in sampled]  # the sample, in the candidate sets' order
    max_new_tokens = proxy_budget(lm, candidates, sample_order)
    alive, spent, stopped, last = list(kept), Cost(), "the rounds are done", None
    for number, rnd in enumerate(settings.rounds, 1):
        if len(alive) < 2:
            stopped = f"one strategy left after round {number - 1}"
            break
        if len(pool) < rnd.validation:
            raise StylefitError(f"adaptive selector: round {number} validates on {rnd.validation} held-out training questions; "
                                f"task '{task.name}' has {len(pool)} outside the sample of {len(sampled)}")
        recipe = Recipe(**(settings.recipe | {"epochs": rnd.epochs}))
        # the round trains on the sample's first rnd.n questions: fewer where the screen's sample shrank (cut responses)
        steps = len(alive) * steps_per_run(min(rnd.n, len(sample_order)), rnd.epochs, recipe.batch_size)
        if settings.budget_steps and spent.steps + steps > settings.budget_steps:
            stopped = f"the budget of {settings.budget_steps} steps: round {number} needs {steps} more, {spent.steps} spent"
            break
        if settings.budget_s and spent.seconds >= settings.budget_s:
            stopped = f"the budget of {settings.budget_s:g} s: {spent.seconds:.0f} s spent before round {number}"
            break
        runs, computed = proxy_runs(lm, candidates, sample_order[: rnd.n], pool[: rnd.validation], recipe=recipe,
                             max_new_tokens=max_new_tokens, seed=settings.seed, dtype=settings.dtype, store=store,
                             strategies=alive, workers=workers, ray_address=ray_address, resources=resources,
                             progress=labelled(progress, f"round {number}"))  # a bar per round, not one counting past its total
        accuracy = {s: np.array([float(item.strict_correct) for item in runs[s].evaluation.items]) for s in alive}
        ranking = rank_strategies(accuracy, higher_is_better=True, n_bootstrap=settings.n_bootstrap, seed=settings.seed)
        round_table = _table(ranking, accuracy, settings)
        # the budget meters a fine-tune per strategy, as registered (a twin's copy too); the cost counts what ran
        spent = spent + sum((_run_cost(runs[s]) for s in alive), Cost())
        cost = sum((_run_cost(r) for r in distinct_runs(runs[s] for s in alive)), Cost())
        out = {row["strategy"]: f"clearly behind {ranking.best} on held-out accuracy (paired difference "
                                f"{row['diff']:+.3f} [{row['diff_low']:+.3f}, {row['diff_high']:+.3f}])"
               for row in round_table[1:] if row["diff_low"] > 0}
        alive = [row["strategy"] for row in round_table if row["strategy"] not in out]
        stages.append(Stage(f"proxy round {number} (n={rnd.n}, {rnd.epochs:g} epoch{'s' if rnd.epochs != 1 else ''}, "
                            f"{rnd.validation} held out, {max_new_tokens} new tokens)", round_table, list(alive), out, [], cost,
                            computed))
        last = (ranking, rnd, recipe, runs)
        if len(alive) < 2:
            stopped = f"one strategy left after round {number}"

    if last is None:  # no round ran: the screen decides, with its uncertainty
        tied, p_best, proxy_on_all = screen.ranking.tied_best, screen.ranking.estimates[0].p_best, Cost()
        if len(kept) >= 2:
            stopped += "; no proxy round ran, so the screen decides"
        survivors, final_table = kept, table
    else:
        ranking, rnd, recipe, runs = last
        tied = [t for t in ranking.tied_best if t in alive]
        p_best = next(e.p_best for e in ranking.estimates if e.strategy == tied[0])
        computed_runs = distinct_runs(runs[s] for s in runs if s is not None)
        per_run, k = sum((_run_cost(r) for r in computed_runs), Cost()), len(computed_runs)
        proxy_on_all = Cost(per_run.seconds / k * len(order), round(per_run.steps / k * len(order)), round(per_run.tokens / k * len(order)))
        survivors, final_table = alive, stages[-1].table
    # Most preferred first: the survivors, then what each later stage dropped, ties (a shared rank) kept together.
    tiers = _tiers(final_table, survivors) + [tier for stage in reversed(stages) for tier in _tiers(stage.table, stage.dropped)]
    preference = {s: float(-i) for i, tier in enumerate(tiers) for s in tier}
    return AdaptiveResult(task.name, lm.name, settings.model_dump(mode="json"), stages, tied, p_best,
                          [s for tier in tiers for s in tier], preference, stopped, sum((s.cost for s in stages), Cost()),
                          proxy_on_all, screen)


def shortlist(table: list[dict[str, Any]], keep_top: int, keep_inseparable: bool) -> tuple[list[str], dict[str, str]]:
    """The screen's top ``keep_top`` (``table`` is best first), and with ``keep_inseparable`` every
    other strategy whose paired interval against the leader includes 0; the rest dropped, with why."""
    kept = [row["strategy"] for row in table[:keep_top]]
    dropped = {}
    for row in table[keep_top:]:
        if keep_inseparable and row["diff_low"] <= 0 <= row["diff_high"]:
            kept.append(row["strategy"])
        else:
            dropped[row["strategy"]] = (f"outside the screen's top {keep_top}, behind {table[0]['strategy']} (paired difference "
                                        f"{row['diff']:+.4g} [{row['diff_low']:+.4g}, {row['diff_high']:+.4g}])")
    return kept, dropped


def steps_per_run(n: int, epochs: float, batch_size: int) -> int:
    """Optimizer steps of one fine-tune on n examples (the trainer's count: a partial last batch is a step)."""
    return math.ceil(math.ceil(n / batch_size) * epochs)


def proxy_budget(lm: LanguageModel, candidates: CandidateSet, ids: list[str]) -> int:
    """The proxy's answer budget: 1.25x the longest sampled response in the target's tokens, rounded
    up to a multiple of 64, at least 128 (issue 22's rule for evaluation budgets)."""
    from stylefit.training.verify import EVAL_MARGIN

    longest = max(len(lm.tokenize(c.response)) for s in candidates.strategies for c in candidates.candidates(s, ids))
    return max(128, 64 * math.ceil(EVAL_MARGIN * longest / 64))


def _table(ranking, values: dict[str, np.ndarray], settings: AdaptiveSettings) -> list[dict[str, Any]]:
    """Per strategy, best first: its estimate and its paired difference from the leader (oriented: > 0 = behind)."""
    leader = ranking.estimates[0].strategy
    sign = 1.0 if ranking.higher_is_better else -1.0
    rows = []
    for e in ranking.estimates:
        diff, low, high = paired_difference(sign * values[leader], sign * values[e.strategy],
                                            n_bootstrap=settings.n_bootstrap, seed=settings.seed)
        rows.append({"strategy": e.strategy, "mean": e.mean, "ci_low": e.ci_low, "ci_high": e.ci_high, "p_best": e.p_best,
                     "rank": e.rank, "diff": diff, "diff_low": low, "diff_high": high})
    return rows


def _tiers(table: list[dict[str, Any]], names) -> list[list[str]]:
    """The strategies of ``names`` in ``table``'s order, grouped by a shared rank."""
    groups: dict[int, list[str]] = {}
    for row in table:
        if row["strategy"] in names:
            groups.setdefault(row["rank"], []).append(row["strategy"])
    return list(groups.values())


def _length_rho(screen: SelectionResult) -> float | None:
    """Spearman's rho, over the strategies, between the screen's preference and mean response length."""
    from scipy.stats import spearmanr

    estimates = screen.ranking.estimates
    if len(estimates) < 3:
        return None
    preference = [e.mean if screen.higher_is_better else -e.mean for e in estimates]
    tokens = [e.mean_tokens for e in estimates]
    if np.ptp(preference) == 0 or np.ptp(tokens) == 0:  # a constant side has no rank correlation
        return None
    return float(spearmanr(preference, tokens).statistic)


def _run_cost(run) -> Cost:
    tokens = (run.training.train_tokens if run.training else 0) + sum(item.n_tokens for item in run.evaluation.items)
    return Cost(run.timings.get("total_s", 0.0), run.training.steps if run.training else 0, tokens)
