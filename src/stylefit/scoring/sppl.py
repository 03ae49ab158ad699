"""Self-aligned perplexity (SPPL, arXiv 2502.11779): the perplexity of a candidate response when
the prompt also shows k of the target's own correct answers as examples of its inference style."""

from __future__ import annotations

import math
from typing import Any

from stylefit.data.candidates import CandidateSet
from stylefit.errors import StylefitError
from stylefit.models.base import ContinuationRequest, ContinuationScore, GenerationSpec, LanguageModel, Progress
from stylefit.prompts import continuation_request, sppl_prompt
from stylefit.scoring.base import ExampleScore, Scorer, ScoringItem, register
from stylefit.scoring.exemplars import ExemplarSet, build_self_exemplars, exemplar_positions
from stylefit.store import Store

VARIANTS = {"paper": "paper", "native": "native"}  # variant -> prompt template


@register
class SelfAlignedPerplexity(Scorer):
    """SPPL. ``variant='paper'`` reproduces the authors' template and [INST] wrapper exactly;
    ``'native'`` puts the same prompt through the target's own chat template."""

    name = "sppl"
    version = "1"
    unit = "perplexity"

    def __init__(self, k: int = 3, m: int = 100, variant: str = "native", max_new_tokens: int = 256):
        if variant not in VARIANTS:
            raise StylefitError(f"sppl: unknown variant '{variant}' (known: {', '.join(VARIANTS)})")
        if k < 1 or m < 2:
            raise StylefitError(f"sppl: need k >= 1 and m >= 2, got k={k}, m={m}")
        self.k, self.m, self.variant, self.max_new_tokens = k, m, variant, max_new_tokens
        self.exemplars: ExemplarSet | None = None

    def params(self) -> dict[str, Any]:
        # The exemplar texts are inside every prompt, so the key already covers how they were made.
        return {"k": self.k, "variant": self.variant}

    def prepare_units(self, candidates: CandidateSet, ids: list[str]) -> int:
        return min(self.m, len(candidates.task.train))

    def prepare(self, lm: LanguageModel, candidates: CandidateSet, ids: list[str], store: Store,
                progress: Progress | None = None) -> list[str]:
        spec = GenerationSpec(max_new_tokens=self.max_new_tokens)
        self.exemplars = build_self_exemplars(lm, candidates.task, self.m, spec, store, progress)
        notes = self.exemplars.notes()
        usable = len(self.exemplars.texts) - 1  # the authors' cycling never uses the last one
        if usable < 1:
            raise StylefitError(
                f"sppl: {len(self.exemplars.texts)} exemplar(s) from m={self.m} questions; need at least 2 (raise --m)"
            )
        if self.k > usable:
            notes.append(f"sppl: k lowered from {self.k} to {usable}: only {usable + 1} exemplars (as the paper does)")
            self.k = usable
        return notes

    def requests(self, lm: LanguageModel, item: ScoringItem) -> list[ContinuationRequest]:
        if self.exemplars is None:
            raise RuntimeError("SelfAlignedPerplexity.prepare() must run before scoring")
        texts = self.exemplars.texts
        chosen = [texts[i] for i in exemplar_positions(item.position, self.k, len(texts))]
        prompt = sppl_prompt(item.candidate.prompt, chosen)
        return [continuation_request(lm, VARIANTS[self.variant], prompt, item.candidate.response, item.label)]

    def combine(self, item: ScoringItem, results: list[ContinuationScore]) -> ExampleScore:
        (r,) = results
        return ExampleScore(math.exp(r.mean_nll), r.mean_nll, r.n_tokens)
