"""How good is a selector? The selection-quality figures shared by every benchmark.

A *case* is one (target model, task) with several candidate strategies whose fine-tuned
accuracies are known. A selector gives each strategy a preference (higher = more preferred).
Per case we measure:

- spearman: scipy's Spearman rho between preference and mean accuracy (ties averaged);
- top1_accuracy: accuracy of the most preferred strategy (fraction);
- hit: 1 if that strategy is a best one (ties in accuracy count as best);
- regret_points: best accuracy minus picked accuracy, in accuracy points (0-100 scale);
- pairwise_accuracy: fraction of strategy pairs with different accuracies that the selector
  orders correctly (a tie in preference counts 1/2).

Ties in preference are resolved by their expectation under a uniformly random tie-break: a
tied top counts as the mean of its members, and a selector that ties everything (the random
selector) gets rho = 0 and pairwise accuracy 1/2, its exact expected values.

Over cases (`summarize`): the paper's weighted Spearman sum(sigma rho) / sum(sigma) with sigma
the spread of the case's strategy accuracies, plain means of the other figures, each with a
percentile bootstrap interval over cases (scipy.stats.bootstrap).

This is not the paper's own tie handling (see `bench.paper.tables`, used only to reproduce it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
from scipy.stats import binomtest, bootstrap, spearmanrho

# Case subsets of the paper: name -> sigma threshold (fraction); in the subset if sigma > it.
SUBSETS: dict[str, float] = {"all": -np.inf, "sigma_gt_2": 0.02, "sigma_gt_4": 0.04}

N_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95


def accuracy_spread(accuracies: Sequence[float]) -> float:
    """The paper's case weight: sample standard deviation (ddof=1) of strategy accuracies
    (fractions, so 0.04 = 4 points)."""
    return float(np.std(np.asarray(accuracies, dtype=float), ddof=1))


@dataclass(frozen=True)
class CaseOutcome:
    """A selector's result on one case (fields are floats, or arrays for a batch of
    preference vectors). spearman and pairwise_accuracy are NaN for a selector that only
    picks (no ranking)."""

    spearman: float
    top1_accuracy: float  # fraction
    best_accuracy: float  # fraction (the upper bound)
    hit: float  # probability that the pick is a best strategy
    regret_points: float  # accuracy points
    pairwise_accuracy: float


def evaluate(preference: np.ndarray, accuracy: np.ndarray, ranks: bool = True) -> CaseOutcome:
    """Score preference vectors against the strategies' mean accuracies.

    preference: shape (..., n_strategies), higher = preferred; leading axes are a batch
    (blocks, random draws). accuracy: shape (n_strategies,), fractions. ranks=False for a
    selector that only picks one strategy (spearman and pairwise become NaN).
    """
    preference = np.asarray(preference, dtype=float)
    accuracy = np.asarray(accuracy, dtype=float)
    if preference.shape[-1] != accuracy.shape[0] or accuracy.shape[0] < 2:
        raise ValueError(f"need >= 2 strategies; got preference {preference.shape}, accuracy {accuracy.shape}")
    if np.ptp(accuracy) == 0:
        raise ValueError("all strategies have the same accuracy: the case cannot judge a selector")
    if np.isnan(preference).any():
        raise ValueError("preference holds NaN")
    best = accuracy.max()
    top = preference == preference.max(axis=-1, keepdims=True)  # tied tops share the pick
    n_top = top.sum(axis=-1)
    top1 = (top * accuracy).sum(axis=-1) / n_top
    hit = (top & (accuracy == best)).sum(axis=-1) / n_top

    batch = preference.shape[:-1]
    spearman = np.full(batch, np.nan)
    pairwise = np.full(batch, np.nan)
    if ranks:
        tied_all = np.ptp(preference, axis=-1) == 0
        spearman = np.where(tied_all, 0.0, spearman)  # random tie-break: expected rho is 0
        if (~tied_all).any():
            spearman[~tied_all] = spearmanrho(preference[~tied_all], accuracy, axis=-1).statistic
        pairwise = _pairwise_accuracy(preference, accuracy)
    return CaseOutcome(
        spearman=_scalar(spearman),
        top1_accuracy=_scalar(top1),
        best_accuracy=float(best),
        hit=_scalar(hit),
        regret_points=_scalar(100 * (best - top1)),
        pairwise_accuracy=_scalar(pairwise),
    )


def _pairwise_accuracy(preference: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Fraction of pairs with different accuracies ordered like the accuracies (ties: 1/2)."""
    truth = np.sign(accuracy[:, None] - accuracy[None, :])
    said = np.sign(preference[..., :, None] - preference[..., None, :])
    decisive = np.triu(truth != 0, k=1)
    credit = (said == truth) + 0.5 * (said == 0)
    return (credit * decisive).sum(axis=(-2, -1)) / decisive.sum()


def _scalar(x: np.ndarray) -> float | np.ndarray:
    return float(x) if np.ndim(x) == 0 else x


def mean_outcome(outcomes: Sequence[CaseOutcome]) -> CaseOutcome:
    """Field-wise mean, e.g. over the blocks of a case or over random draws."""
    return CaseOutcome(**{f.name: float(np.mean([getattr(o, f.name) for o in outcomes])) for f in fields(CaseOutcome)})


def difference(a: CaseOutcome, b: CaseOutcome) -> CaseOutcome:
    """a - b field-wise (for paired comparisons on the same case)."""
    return CaseOutcome(**{f.name: getattr(a, f.name) - getattr(b, f.name) for f in fields(CaseOutcome)})


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap interval over cases."""

    estimate: float
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def format_interval(i: dict[str, float], digits: int = 2, signed: bool = False) -> str:
    """'0.57 [0.52, 0.65]' from an Interval's fields (``vars``), signed for differences; with one case
    there is no interval over cases, and it says so."""
    sign = "+" if signed else ""
    if i["low"] is None or math.isnan(i["low"]):
        return f"{i['estimate']:{sign}.{digits}f} (no interval)"
    return f"{i['estimate']:{sign}.{digits}f} [{i['low']:{sign}.{digits}f}, {i['high']:{sign}.{digits}f}]"


# Figure -> (CaseOutcome field, weighted by sigma?, scale). The paper reports the first two.
FIGURES: dict[str, tuple[str, bool, float]] = {
    "weighted_spearman": ("spearman", True, 1.0),
    "top1_accuracy_points": ("top1_accuracy", False, 100.0),
    "mean_spearman": ("spearman", False, 1.0),
    "hit_rate": ("hit", False, 1.0),
    "regret_points": ("regret_points", False, 1.0),
    "pairwise_accuracy": ("pairwise_accuracy", False, 1.0),
    "upper_bound_points": ("best_accuracy", False, 100.0),
}


def weighted_means(
    values: np.ndarray,
    weights: np.ndarray,
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> list[Interval]:
    """Weighted means over cases of several figures, with percentile bootstrap intervals.

    values, weights: shape (n_figures, n_cases). One scipy.stats.bootstrap call resamples the
    cases once per resample for every row, so intervals of different rows are paired.
    With fewer than 2 cases the interval is NaN.
    """
    values, weights = np.atleast_2d(values).astype(float), np.atleast_2d(weights).astype(float)
    estimate = np.sum(values * weights, axis=-1) / np.sum(weights, axis=-1)
    if values.shape[-1] < 2:
        low = high = np.full(len(values), np.nan)
    else:
        ci = bootstrap(
            (values, weights),
            lambda v, w, axis: np.sum(v * w, axis=axis) / np.sum(w, axis=axis),
            paired=True,
            vectorized=True,
            axis=-1,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(seed),
        ).confidence_interval
        low, high = ci.low, ci.high
    return [Interval(float(e), float(lo), float(hi)) for e, lo, hi in zip(estimate, low, high)]


def summarize_many(
    outcomes: Mapping[str, Sequence[CaseOutcome]], sigma: Sequence[float], **bootstrap_options
) -> dict[str, dict[str, Interval]]:
    """Every figure of FIGURES for several selectors scored on the same cases.

    outcomes[name][i] is the outcome on case i; sigma[i] its weight (the paper's sigma).
    Figures undefined for a selector (NaN, e.g. rho of a fixed-strategy rule) come back as
    NaN intervals. Intervals are paired across selectors (see weighted_means).
    """
    sigma = np.asarray(sigma, dtype=float)
    rows, weights, slots = [], [], []
    for name, per_case in outcomes.items():
        if len(per_case) != len(sigma):
            raise ValueError(f"{name}: {len(per_case)} outcomes for {len(sigma)} cases")
        for figure, (field_name, weighted, scale) in FIGURES.items():
            values = scale * np.array([getattr(o, field_name) for o in per_case], dtype=float)
            if np.isnan(values).all():
                continue
            if np.isnan(values).any():
                raise ValueError(f"{name}: {figure} is undefined on some cases only")
            rows.append(values)
            weights.append(sigma if weighted else np.ones_like(sigma))
            slots.append((name, figure))
    result = {name: {figure: Interval(np.nan, np.nan, np.nan) for figure in FIGURES} for name in outcomes}
    if rows:
        for (name, figure), interval in zip(slots, weighted_means(np.array(rows), np.array(weights), **bootstrap_options)):
            result[name][figure] = interval
    return result


def summarize(outcomes: Sequence[CaseOutcome], sigma: Sequence[float], **bootstrap_options) -> dict[str, Interval]:
    """FIGURES for one selector over cases (see summarize_many)."""
    return summarize_many({"selector": outcomes}, sigma, **bootstrap_options)["selector"]


@dataclass(frozen=True)
class WinTieLoss:
    """Per-case signs of a paired difference, with the two-sided sign-test p-value
    (scipy.stats.binomtest on wins vs losses; ties dropped). Shows how many cases a mean gap
    rests on."""

    wins: int
    ties: int
    losses: int
    sign_test_p: float


def win_tie_loss(differences: Sequence[float], tolerance: float = 1e-12) -> WinTieLoss:
    d = np.asarray(differences, dtype=float)
    wins, losses = int(np.sum(d > tolerance)), int(np.sum(d < -tolerance))
    p = binomtest(wins, wins + losses).pvalue if wins + losses else 1.0
    return WinTieLoss(wins, len(d) - wins - losses, losses, float(p))


def in_subset(sigma: float, subset: str) -> bool:
    return sigma > SUBSETS[subset]
