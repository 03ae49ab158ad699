"""Scorers behind one protocol (``base.py``, with the caching engine), found by name: ppl, ifd, length, sppl, alignment, grace, proxy ..."""

from stylefit.scoring import alignment, grace, local, perplexity, proxy, rank_surprisal, sppl  # noqa: F401  (registers the scorers)
from stylefit.scoring.base import (ExampleScore, SampleScores, Scorer, ScoringItem, get_scorer, register, score_sample, scorer_names,
                                   template_parameter)

__all__ = ["ExampleScore", "SampleScores", "Scorer", "ScoringItem", "get_scorer", "register", "score_sample", "scorer_names",
           "template_parameter"]
