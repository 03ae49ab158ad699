"""Rank-Surprisal Ratio (RSR): how highly the target ranks a response's tokens, relative to how
surprised it is by them.

Follows arXiv 2601.14249 and its authors' code (UmeanNever/RankSurprisalRatio, ``rsr_cal.py``).
"""

from __future__ import annotations

from typing import Any

from stylefit.core.errors import StylefitError
from stylefit.models.base import ContinuationRequest, ContinuationScore, LanguageModel
from stylefit.scoring.base import ExampleScore, ScoringItem, register
from stylefit.scoring.perplexity import _TemplatedScorer


@register
class RankSurprisalRatio(_TemplatedScorer):
    """RSR = Σ_t min(rank_t, r) / Σ_t NLL_t over the response's tokens, given the question.

    - ``rank_t``: the true token's 1-based rank among the vocabulary under the target (ties count
      in its favour), clipped at ``clip`` (r = 100 in the source); ``NLL_t`` in nats.
    - Per strategy (the authors' dataset-level ratio): mean over responses of the average rank,
      divided by the mean over responses of the average NLL. Each response counts once, whatever
      its length. The per-example value reported is the response's own ratio.
    - Direction: **lower is better**. A low ratio means tokens the target finds surprising (it
      would not put much mass on them) yet ranks near the top: informative but reachable. The
      source ranks teachers' data by it, lowest first.
    - Cost: the same forward pass as ``ppl`` plus a comparison over the vocabulary per token.
    - Template: the target's own chat template (the source scores under the student's template).
    """

    name = "rsr"
    version = "1"
    unit = "mean rank / mean NLL"
    ratio_of_means = True

    def __init__(self, clip: int = 100, template: str = "native", paper_wrapper: str | None = None):
        super().__init__(template, paper_wrapper)
        if clip < 1:
            raise ValueError(f"clip must be at least 1, got {clip}")
        self.clip = clip

    def params(self) -> dict[str, Any]:
        return super().params() | {"clip": self.clip}

    def requests(self, lm: LanguageModel, item: ScoringItem) -> list[ContinuationRequest]:
        return [self._request(lm, item)]

    def combine(self, item: ScoringItem, results: list[ContinuationScore]) -> ExampleScore:
        (r,) = results
        if r.token_ranks is None:
            raise StylefitError("the model backend returned no token ranks; rsr needs them (the local transformers backend has them)")
        ranks = [min(rank, self.clip) for rank in r.token_ranks]
        rank_sum, nll_sum = float(sum(ranks)), -sum(r.token_logprobs)
        nll_sum = max(nll_sum, 1e-12)  # as the source: a response predicted with certainty has no surprisal
        return ExampleScore(rank_sum / nll_sum, r.mean_nll, r.n_tokens, parts=(rank_sum / r.n_tokens, nll_sum / r.n_tokens))
