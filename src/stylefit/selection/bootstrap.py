"""Rank strategies with uncertainty: a paired bootstrap over questions.

Every bootstrap resample draws the same questions for every strategy, so differences between
strategies are not swamped by how hard the questions are. The ranked statistic is the arithmetic
mean of the per-example scores (the paper's aggregate), or for a ratio-of-means scorer (``rsr``)
mean(numerators) / mean(denominators) recomputed in every resample; the mean NLL and the median
are reported beside it.

Ties are shared, never broken by load order: strategies whose means tie share a rank
(competition ranking, 1, 1, 3), and a resample in which several strategies tie for first
credits each of them 1/(number tied) of a win.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054
# Means this close (relative) are a tie: sums over the same values in another order may differ in the last bit.
TIE_RTOL = 1e-12


@dataclass
class StrategyEstimate:
    strategy: str
    mean: float  # arithmetic mean of per-example scores (ranked)
    ci_low: float  # 95% paired-bootstrap percentile interval of the mean
    ci_high: float
    p_best: float  # share of bootstrap resamples won by this strategy (a k-way tie for first counts 1/k)
    mean_nll: float | None
    median: float
    mean_tokens: float
    rank: int = 0  # 1 = best; tied means share a rank


@dataclass
class Ranking:
    estimates: list[StrategyEstimate]  # best first
    n: int
    n_bootstrap: int
    seed: int
    higher_is_better: bool
    top_two_separated: bool  # the 95% interval of the paired top-1 minus top-2 difference excludes 0
    top_two_diff: tuple[float, float, float]  # (mean, low, high) of top-1 minus top-2, per example
    n_to_separate: int | None  # rough N at which that interval would exclude 0 (None if separated)

    @property
    def best(self) -> str:
        return self.estimates[0].strategy

    @property
    def tied_best(self) -> list[str]:
        """Every strategy that shares rank 1 (one name unless the best means tie)."""
        return [e.strategy for e in self.estimates if e.rank == 1]


def _ties(values: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Where ``values`` equals ``best`` up to TIE_RTOL (broadcast)."""
    return np.abs(values - best) <= TIE_RTOL * np.maximum(np.abs(best), 1.0)


def rank_strategies(
    values: dict[str, np.ndarray],
    *,
    higher_is_better: bool,
    nll: dict[str, np.ndarray | None] | None = None,
    tokens: dict[str, np.ndarray] | None = None,
    n_bootstrap: int = 2000,
    seed: int = 0,
    ratio_parts: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Ranking:
    """``values[strategy]`` holds per-example scores on the same n questions, in the same order.
    ``ratio_parts[strategy]`` = (numerators, denominators): rank by their ratio of means instead."""
    names = list(values)
    matrix = np.stack([np.asarray(values[s], dtype=float) for s in names])  # (K, n)
    k, n = matrix.shape
    if n < 2:
        raise ValueError(f"need at least 2 questions to bootstrap, got {n}")
    sign = -1.0 if higher_is_better else 1.0  # internally: lower is better
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_bootstrap, n))
    if ratio_parts is None:
        statistic, boot = matrix.mean(axis=1), matrix[:, idx].mean(axis=2)  # (K,), (K, B)
        influence = matrix  # what each example contributes to the statistic
    else:
        num = np.stack([np.asarray(ratio_parts[s][0], dtype=float) for s in names])
        den = np.stack([np.asarray(ratio_parts[s][1], dtype=float) for s in names])
        statistic = num.mean(axis=1) / den.mean(axis=1)
        boot = num[:, idx].mean(axis=2) / den[:, idx].mean(axis=2)
        # The ratio's linearisation (delta method): these average to the statistic, and their paired
        # differences size the N needed to separate two strategies.
        influence = statistic[:, None] + (num - statistic[:, None] * den) / den.mean(axis=1, keepdims=True)
    oriented = sign * boot
    winners = _ties(oriented, oriented.min(axis=0, keepdims=True))  # (K, B): every strategy tied for first
    p_best = (winners / winners.sum(axis=0, keepdims=True)).sum(axis=1) / n_bootstrap
    lows, highs = np.percentile(boot, [2.5, 97.5], axis=1)
    means = statistic
    order = np.argsort(sign * means, kind="stable")
    ranks = _competition_ranks(sign * means[order])
    estimates = []
    for rank, j in zip(ranks, order):
        s = names[j]
        s_nll = None if nll is None or nll.get(s) is None else float(np.mean(nll[s]))
        s_tok = float(np.mean(tokens[s])) if tokens is not None else float("nan")
        estimates.append(
            StrategyEstimate(s, float(means[j]), float(lows[j]), float(highs[j]), float(p_best[j]), s_nll,
                             float(np.median(matrix[j])), s_tok, rank)
        )
    # Paired difference between the top two, in the same resamples.
    diff = influence[order[0]] - influence[order[1]]
    d_boot = boot[order[0]] - boot[order[1]]
    d_low, d_high = np.percentile(d_boot, [2.5, 97.5])
    separated = bool(d_low > 0 or d_high < 0)
    n_needed = None
    if not separated:
        sd, mean = float(diff.std(ddof=1)), abs(float(diff.mean()))
        n_needed = math.ceil((Z95 * sd / mean) ** 2) if mean > 0 else None
    return Ranking(estimates, n, n_bootstrap, seed, higher_is_better, separated,
                   (float(means[order[0]] - means[order[1]]), float(d_low), float(d_high)), n_needed)


def _competition_ranks(sorted_values: np.ndarray) -> list[int]:
    """1-based ranks of ascending values; a value tied with the one before it shares its rank."""
    ranks = [1]
    for i in range(1, len(sorted_values)):
        tied = _ties(sorted_values[i], sorted_values[i - 1])
        ranks.append(ranks[-1] if tied else i + 1)
    return ranks


def paired_difference(a: np.ndarray, b: np.ndarray, *, n_bootstrap: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """mean(a - b) over the same questions and its 95% paired-bootstrap percentile interval."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(diff) < 2:
        raise ValueError(f"need at least 2 questions to bootstrap, got {len(diff)}")
    idx = np.random.default_rng(seed).integers(0, len(diff), size=(n_bootstrap, len(diff)))
    low, high = np.percentile(diff[idx].mean(axis=1), [2.5, 97.5])
    return float(diff.mean()), float(low), float(high)
