"""Deciding and judging decisions: select (scores to a ranking), paired bootstrap and P(best), per-question routing, selector quality."""

from stylefit.selection.bootstrap import Ranking, StrategyEstimate, rank_strategies

__all__ = ["Ranking", "StrategyEstimate", "rank_strategies"]
