"""From runs to a verdict: per strategy the mean accuracy over seeds, its spread, the noise floor,
and whether neighbouring strategies are separated by more than that noise.

Two noise sources bound what a ranking of fine-tuned accuracies can say (DESIGN.md §5):
- seed to seed: the same strategy trained with another seed lands 1-2 points away;
  measured as the standard deviation over seeds (ddof=1), pooled over strategies;
- test items: an accuracy on n items has a binomial standard error; it is the Agresti-Coull one,
  sqrt(p~(1-p~)/n~) with n~ = n + z² and p~ = (x + z²/2)/n~ (z = 1.96: about two successes and two
  failures added), so that 0% and 100% do not claim zero noise.
A strategy's mean over k seeds has standard error sqrt(std²/k + binomial²); two strategies are
"separated" when the 95% interval of their difference, from those errors, excludes zero. Pairing
on the shared test items is ignored, which makes the verdict conservative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from stylefit.training.runs import RunResult

Z95 = float(norm.ppf(0.975))
CUT_FLAG = 0.02  # share of test answers cut by max_new_tokens above which a run is flagged


def cut_flagged(cut: int, n_test: int, looping: int = 0) -> bool:
    """A run whose answers hit the length limit this often measures the limit as much as the strategy;
    answers caught in a loop (``evaluate.looping``) do not count: a larger budget would only repeat them."""
    return cut - looping > CUT_FLAG * n_test


def cut_bounds(strategies: list["StrategyAccuracy"], n_test: int) -> dict[str, tuple[float, float]]:
    """Each strategy's mean accuracy were every test answer cut by the length limit (and not in a loop)
    wrong, and were every one right: no larger budget can move it outside these two. The first is the
    accuracy as scored unless a cut answer is right as it stands (a longer one could still turn)."""
    def bound(s: "StrategyAccuracy") -> tuple[float, float]:
        zeros = [0] * len(s.cut_per_seed)
        per_seed = list(zip(s.accuracies, s.cut_per_seed, s.looping_per_seed or zeros, s.cut_right_per_seed or zeros))
        if not per_seed:
            return s.mean, s.mean
        low = [a - right / n_test for a, _, _, right in per_seed]
        high = [min(1.0, a + (cut - loops - right) / n_test) for a, cut, loops, right in per_seed]
        return float(np.mean(low)), float(np.mean(high))
    return {s.strategy: bound(s) for s in strategies}


def pairs_that_could_swap(means: dict[str, float], bounds: dict[str, tuple[float, float]]) -> list[tuple[str, str]]:
    """The pairs of strategies (ahead as scored, behind) whose order, or tie, could change somewhere inside
    their bounds; with none, a ranking and every figure computed from it alone cannot change."""
    pairs = []
    for a, (low_a, high_a) in bounds.items():
        for b, (low_b, high_b) in bounds.items():
            if means[a] > means[b] and high_b >= low_a:  # b, behind a as scored, could reach it
                pairs.append((a, b))
            elif means[a] == means[b] and a < b and (low_a, high_a, low_b, high_b) != (means[a],) * 4:  # a tie that could break
                pairs.append((a, b))
    return pairs


def binomial_se(accuracy: float, n: int) -> float:
    """Agresti-Coull standard error of an accuracy on n items: its 95% interval is p~ ± 1.96 se."""
    n_adjusted = n + Z95**2
    p = (accuracy * n + Z95**2 / 2) / n_adjusted
    return math.sqrt(p * (1 - p) / n_adjusted)


@dataclass
class StrategyAccuracy:
    strategy: str
    rank: int
    seeds: list[int]
    accuracies: list[float]  # the ranking metric, one per seed
    strict: list[float]
    flexible: list[float]
    mean: float
    mean_strict: float
    mean_flexible: float
    std: float | None  # over seeds, ddof=1; None with a single seed
    binomial_se: float
    se: float  # of the mean: sqrt(std²/k + binomial_se²)
    ci_low: float  # mean ± 1.96 se, clipped to [0, 1]
    ci_high: float
    within_noise_of_best: bool
    hit_length_limit: float  # test outputs cut by max_new_tokens, mean over seeds
    skipped_examples: int  # over-long training examples dropped, summed over seeds
    cut_per_seed: list[int] = field(default_factory=list)  # test outputs cut by max_new_tokens, per seed
    looping_per_seed: list[int] = field(default_factory=list)  # of them, caught in a loop
    cut_right_per_seed: list[int] = field(default_factory=list)  # of the others, right as they stand

    def cut_flagged(self, n_test: int) -> bool:
        loops = self.looping_per_seed or [0] * len(self.cut_per_seed)
        return any(cut_flagged(c, n_test, l) for c, l in zip(self.cut_per_seed, loops))


@dataclass
class BaseAccuracy:
    """The target without fine-tuning, evaluated the same way: the reference row."""

    accuracy: float
    strict: float
    flexible: float
    binomial_se: float
    hit_length_limit: int
    looping: int = 0  # of the cut outputs, caught in a loop


@dataclass
class Comparison:
    better: str
    worse: str
    diff: float
    ci_low: float
    ci_high: float
    separated: bool  # the 95% interval excludes zero


@dataclass
class NoiseFloor:
    seed_std: float | None  # pooled over strategies (root mean of the per-strategy variances)
    binomial_se: float  # at the mean accuracy over strategies
    run_sd: float  # sqrt(seed_std² + binomial_se²): how far one run's accuracy strays from the truth
    strategy_spread: float | None  # std (ddof=1) of the strategy means: the signal to compare with


def mean_se(seed_std: float | None, seeds: int, binomial_se: float) -> float:
    """The standard error of a strategy's mean accuracy over ``seeds`` runs on one test set: the seeds'
    spread averages out over runs, the test set's binomial error does not."""
    return math.sqrt((seed_std**2 / seeds if seed_std is not None else 0.0) + binomial_se**2)


def difference_margin(seed_std: float | None, binomial_se: float, seeds: int) -> float:
    """The 95% margin of the difference between two strategies' means over ``seeds`` runs each, at a
    case's noise floor: what ``_compare`` requires to separate two strategies of that floor."""
    se = mean_se(seed_std, seeds, binomial_se)
    return Z95 * math.hypot(se, se)


@dataclass
class VerifyCase:
    """One (task, target): the strategies ranked by fine-tuned accuracy."""

    task: str
    target: str
    revision: str
    metric: str
    n_test: int
    strategies: list[StrategyAccuracy]
    comparisons: list[Comparison]  # between neighbouring ranks
    noise: NoiseFloor
    base: BaseAccuracy | None
    notes: list[str]

    @property
    def best(self) -> str | None:
        """The most accurate strategy; None when several share rank 1 (``tied_best`` names them)."""
        tied = self.tied_best
        return tied[0] if len(tied) == 1 else None

    @property
    def tied_best(self) -> list[str]:
        return [s.strategy for s in self.strategies if s.rank == 1]

    @property
    def ranking(self) -> list[str]:
        return [s.strategy for s in self.strategies]


def _compare(a: StrategyAccuracy, b: StrategyAccuracy) -> Comparison:
    diff = a.mean - b.mean
    half = Z95 * math.hypot(a.se, b.se)
    return Comparison(a.strategy, b.strategy, diff, diff - half, diff + half, diff - half > 0)


def summarize(runs: list[RunResult], metric: str = "strict") -> VerifyCase:
    """Aggregate the runs of one (task, target): fine-tuned runs per strategy and at most one base run."""
    base_runs = [r for r in runs if r.strategy is None]
    by_strategy: dict[str, list[RunResult]] = {}
    for r in runs:
        if r.strategy is not None:
            by_strategy.setdefault(r.strategy, []).append(r)
    if not by_strategy:
        raise ValueError("no fine-tuned runs to summarize")
    first = runs[0]
    n = first.evaluation.n
    if any(r.evaluation.n != n for r in runs) or len({(r.task, r.revision) for r in runs}) != 1:
        raise ValueError("runs of different tasks, targets or test sets cannot be summarized together")

    rows = []
    for strategy, group in by_strategy.items():
        group = sorted(group, key=lambda r: r.seed)
        acc = [r.evaluation.accuracy(metric) for r in group]
        mean = float(np.mean(acc))
        std = float(np.std(acc, ddof=1)) if len(acc) > 1 else None
        b_se = binomial_se(mean, n)
        se = mean_se(std, len(acc), b_se)
        strict = [r.evaluation.accuracy_strict for r in group]
        flexible = [r.evaluation.accuracy_flexible for r in group]
        rows.append(StrategyAccuracy(
            strategy=strategy, rank=0, seeds=[r.seed for r in group], accuracies=acc, strict=strict, flexible=flexible,
            mean=mean, mean_strict=float(np.mean(strict)), mean_flexible=float(np.mean(flexible)), std=std, binomial_se=b_se, se=se, ci_low=max(0.0, mean - Z95 * se), ci_high=min(1.0, mean + Z95 * se),
            within_noise_of_best=False,
            hit_length_limit=float(np.mean([r.evaluation.hit_length_limit for r in group])),
            skipped_examples=sum(len(r.training.skipped) for r in group if r.training),
            cut_per_seed=[r.evaluation.hit_length_limit for r in group],
            looping_per_seed=[r.evaluation.looping for r in group],
            cut_right_per_seed=[r.evaluation.cut_right(metric) for r in group],
        ))
    rows.sort(key=lambda s: (-s.mean, s.strategy))
    for i, row in enumerate(rows):
        row.rank = rows[i - 1].rank if i and math.isclose(row.mean, rows[i - 1].mean, rel_tol=1e-12) else i + 1  # ties share a rank
        row.within_noise_of_best = row.rank > 1 and not _compare(rows[0], row).separated
    comparisons = [_compare(a, b) for a, b in zip(rows, rows[1:])]

    variances = [s.std**2 for s in rows if s.std is not None]
    seed_std = math.sqrt(float(np.mean(variances))) if variances else None
    floor_se = binomial_se(float(np.mean([s.mean for s in rows])), n)
    noise = NoiseFloor(
        seed_std=seed_std, binomial_se=floor_se, run_sd=math.hypot(seed_std or 0.0, floor_se),
        strategy_spread=float(np.std([s.mean for s in rows], ddof=1)) if len(rows) > 1 else None,
    )
    base = None
    if base_runs:
        e = base_runs[0].evaluation
        base = BaseAccuracy(e.accuracy(metric), e.accuracy_strict, e.accuracy_flexible, binomial_se(e.accuracy(metric), n), e.hit_length_limit,
                            e.looping)
    return VerifyCase(task=first.task, target=first.target, revision=first.revision, metric=metric, n_test=n,
                      strategies=rows, comparisons=comparisons, noise=noise, base=base, notes=_notes(rows, noise, n))


def _notes(rows: list[StrategyAccuracy], noise: NoiseFloor, n: int) -> list[str]:
    notes = []
    single = [s.strategy for s in rows if len(s.seeds) < 2]
    if single:
        notes.append(f"one seed only for {', '.join(single)}: seed-to-seed noise not measured there, "
                     "its interval holds test-item noise alone")
    close = [s.strategy for s in rows if s.within_noise_of_best]
    if len(rows) > 1:
        notes.append(f"best: {rows[0].strategy}; within noise of it (95% interval of the difference includes 0): "
                     + (", ".join(close) if close else "none"))
    if noise.strategy_spread is not None and noise.strategy_spread <= noise.run_sd:
        notes.append(f"the strategies' accuracies spread by {noise.strategy_spread:.3f} (sd), no more than the noise "
                     f"of a single run ({noise.run_sd:.3f}): a ranking of them is mostly noise")
    cut = [f"{s.strategy} {s.hit_length_limit:g}" for s in rows if s.hit_length_limit]
    if cut:
        notes.append(f"test outputs cut by max_new_tokens (of {n}, mean over seeds): {', '.join(cut)}")
    if loops := [f"{s.strategy} {', '.join(map(str, s.looping_per_seed))}" for s in rows if any(s.looping_per_seed)]:
        notes.append("of them caught in a loop (a larger budget would only repeat it; not counted for the flag), per seed: "
                     + "; ".join(loops))
    flagged = [f"{s.strategy} ({', '.join(map(str, s.cut_per_seed))})" for s in rows if s.cut_flagged(n)]
    if flagged:
        notes.append(f"FLAGGED (cut!): runs whose test answers hit max_new_tokens, not in a loop, more than {CUT_FLAG:.0%} of "
                     f"the time, so their accuracy measures the limit as much as the strategy: {', '.join(flagged)}; raise max_new_tokens")
    skipped = [f"{s.strategy} {s.skipped_examples}" for s in rows if s.skipped_examples]
    if skipped:
        notes.append(f"over-long training examples skipped (summed over seeds): {', '.join(skipped)}")
    return notes
