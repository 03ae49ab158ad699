"""Scorers behind one protocol, found by name: ppl, ifd, length, sppl, alignment."""

from stylefit.scoring import alignment, grace, local, perplexity, proxy, rank_surprisal, sppl  # noqa: F401  (registers the scorers)
from stylefit.scoring.base import ExampleScore, Scorer, ScoringItem, get_scorer, register, scorer_names
from stylefit.scoring.engine import SampleScores, score_sample

__all__ = ["ExampleScore", "SampleScores", "Scorer", "ScoringItem", "get_scorer", "register", "score_sample", "scorer_names"]
