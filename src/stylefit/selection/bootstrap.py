"""Rank strategies with uncertainty: a paired bootstrap over questions.

Every bootstrap resample draws the same questions for every strategy, so differences between
strategies are not swamped by how hard the questions are. The ranked statistic is the arithmetic
mean of the per-example scores (the paper's aggregate); the mean NLL and the median are reported
beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054


@dataclass
class StrategyEstimate:
    strategy: str
    mean: float  # arithmetic mean of per-example scores (ranked)
    ci_low: float  # 95% paired-bootstrap percentile interval of the mean
    ci_high: float
    p_best: float  # share of bootstrap resamples in which this strategy ranks first
    mean_nll: float | None
    median: float
    mean_tokens: float
    rank: int = 0


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


def rank_strategies(
    values: dict[str, np.ndarray],
    *,
    higher_is_better: bool,
    nll: dict[str, np.ndarray | None] | None = None,
    tokens: dict[str, np.ndarray] | None = None,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> Ranking:
    """``values[strategy]`` holds per-example scores on the same n questions, in the same order."""
    names = list(values)
    matrix = np.stack([np.asarray(values[s], dtype=float) for s in names])  # (K, n)
    k, n = matrix.shape
    if n < 2:
        raise ValueError(f"need at least 2 questions to bootstrap, got {n}")
    sign = -1.0 if higher_is_better else 1.0  # internally: lower is better
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_bootstrap, n))
    boot = matrix[:, idx].mean(axis=2)  # (K, B)
    winners = np.argmin(sign * boot, axis=0)
    p_best = np.bincount(winners, minlength=k) / n_bootstrap
    lows, highs = np.percentile(boot, [2.5, 97.5], axis=1)
    means = matrix.mean(axis=1)
    order = np.argsort(sign * means, kind="stable")
    estimates = []
    for rank, j in enumerate(order, start=1):
        s = names[j]
        s_nll = None if nll is None or nll.get(s) is None else float(np.mean(nll[s]))
        s_tok = float(np.mean(tokens[s])) if tokens is not None else float("nan")
        estimates.append(
            StrategyEstimate(s, float(means[j]), float(lows[j]), float(highs[j]), float(p_best[j]), s_nll,
                             float(np.median(matrix[j])), s_tok, rank)
        )
    # Paired difference between the top two, per example.
    diff = matrix[order[0]] - matrix[order[1]]
    d_boot = diff[idx].mean(axis=1)
    d_low, d_high = np.percentile(d_boot, [2.5, 97.5])
    separated = bool(d_low > 0 or d_high < 0)
    n_needed = None
    if not separated:
        sd, mean = float(diff.std(ddof=1)), abs(float(diff.mean()))
        n_needed = math.ceil((Z95 * sd / mean) ** 2) if mean > 0 else None
    return Ranking(estimates, n, n_bootstrap, seed, higher_is_better, separated,
                   (float(diff.mean()), float(d_low), float(d_high)), n_needed)
