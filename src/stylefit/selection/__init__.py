"""From per-example scores to a decision: aggregates, paired bootstrap intervals, P(best)."""

from stylefit.selection.bootstrap import Ranking, StrategyEstimate, rank_strategies

__all__ = ["Ranking", "StrategyEstimate", "rank_strategies"]
