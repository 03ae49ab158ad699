"""Self-aligned perplexity (SPPL, arXiv 2502.11779): the perplexity of a candidate response when
the prompt also shows k of the target's own correct answers as examples of its inference style."""

from __future__ import annotations

import math
from typing import Any

from stylefit.core.errors import StylefitError
from stylefit.core.store import Store
from stylefit.data.candidates import CandidateSet
from stylefit.models.base import ContinuationRequest, ContinuationScore, GenerationSpec, LanguageModel, Progress
from stylefit.models.prompts import TEMPLATES, continuation_request, paper_wrapper_option, require_chat_template, sppl_prompt
from stylefit.models.sampling import ExemplarSet, build_self_exemplars
from stylefit.scoring.base import ExampleScore, Scorer, ScoringItem, register


@register
class SelfAlignedPerplexity(Scorer):
    """SPPL = PPL of the response given the question after k of the target's own correct answers.

    ``variant='paper'`` reproduces the authors' template and [INST] wrapper exactly
    (``paper_wrapper`` llama2, or mistral as they wrapped Mistral); ``'native'`` puts the same
    prompt through the target's own chat template; ``'plain'`` writes it as plain text (base models).

    A question's exemplars depend on its position among the candidate set's questions, not on
    which questions were sampled, so ``--sample-seed`` never changes what one question is scored
    against. With the first N questions this is the authors' choice exactly. Since exemplars are
    answers to training questions, one may answer the very question being scored: such questions
    are counted, and ``exclude_own_answer=True`` skips that exemplar for the next one in the cycle.
    """

    name = "sppl"
    version = "1"
    unit = "perplexity"

    def __init__(self, k: int = 3, m: int = 100, variant: str = "native", max_new_tokens: int = 256,
                 paper_wrapper: str | None = None, exclude_own_answer: bool = False):
        if variant not in TEMPLATES:
            raise StylefitError(f"sppl: unknown variant '{variant}' (known: {', '.join(TEMPLATES)})")
        if k < 1 or m < 2:
            raise StylefitError(f"sppl: need k >= 1 and m >= 2, got k={k}, m={m}")
        self.k, self.m, self.variant, self.max_new_tokens = k, m, variant, max_new_tokens
        self.paper_wrapper = paper_wrapper_option(variant, paper_wrapper, "sppl")
        self.exclude_own_answer = exclude_own_answer
        # Set by every prepare(), for that run only.
        self.exemplars: ExemplarSet | None = None
        self._chosen: dict[str, list[int]] = {}

    def params(self) -> dict[str, Any]:
        # The exemplar texts are inside every prompt, so the key already covers how they were made and chosen.
        return ({"k": self.k, "variant": self.variant}
                | ({"paper_wrapper": self.paper_wrapper} if self.paper_wrapper else {})
                | ({"exclude_own_answer": True} if self.exclude_own_answer else {}))

    def prepare_units(self, candidates: CandidateSet, ids: list[str]) -> int:
        return min(self.m, len(candidates.task.train))

    def prepare(self, lm: LanguageModel, candidates: CandidateSet, ids: list[str], store: Store,
                progress: Progress | None = None) -> list[str]:
        require_chat_template(lm, self.variant, "sppl", "variant")
        spec = GenerationSpec(max_new_tokens=self.max_new_tokens)
        self.exemplars = build_self_exemplars(lm, candidates.task, self.m, spec, store, progress)
        notes = self.exemplars.notes()
        cycle = len(self.exemplars.texts) - 1  # the authors' cycling never uses the last one
        spare = 1 if self.exclude_own_answer else 0  # one more in the cycle, to step over the own answer
        if cycle < 1 + spare:
            raise StylefitError(f"sppl: {len(self.exemplars.texts)} exemplar(s) from m={self.m} questions; "
                                f"need at least {2 + spare} (raise m, --m)")
        k = min(self.k, cycle - spare)
        if k < self.k:
            notes.append(f"sppl: k lowered from {self.k} to {k} for this run: only {cycle + 1} exemplars (as the paper does)")
        self._chosen = {}
        own = 0
        answered = self.exemplars.question_ids
        for qid in ids:
            chosen = exemplar_positions(candidates.position(qid), k + spare, len(self.exemplars.texts))
            own += any(answered[i] == qid for i in chosen[:k])
            if self.exclude_own_answer:
                chosen = [i for i in chosen if answered[i] != qid]
            self._chosen[qid] = chosen[:k]
        if self.exclude_own_answer:
            notes.append(f"sppl: {own}/{len(ids)} questions would have seen the target's own answer to that very "
                         "question among their exemplars; it was replaced by the next exemplar")
        elif own:
            notes.append(f"sppl: {own}/{len(ids)} questions see the target's own answer to that very question among "
                         "their exemplars (exclude_own_answer=true replaces it)")
        return notes

    def requests(self, lm: LanguageModel, item: ScoringItem) -> list[ContinuationRequest]:
        if self.exemplars is None:
            raise RuntimeError("SelfAlignedPerplexity.prepare() must run before scoring")
        c = item.candidate
        prompt = sppl_prompt(c.prompt, [self.exemplars.texts[i] for i in self._chosen[c.id]])
        return [continuation_request(lm, self.variant, prompt, c.response, item.label, self.paper_wrapper)]

    def combine(self, item: ScoringItem, results: list[ContinuationScore]) -> ExampleScore:
        (r,) = results
        return ExampleScore(math.exp(r.mean_nll), r.mean_nll, r.n_tokens)


def exemplar_positions(position: int, k: int, n_exemplars: int) -> list[int]:
    """The authors' choice of exemplars for the candidate at ``position``.

    One counter per slot starts at 0..k-1; before every candidate each counter is incremented
    and reset to 0 on reaching n-1. So the last exemplar is never used, and candidate i sees
    exemplars (i + 1 + j) mod (n - 1) for j < k. k is capped at n - 1 by the caller.
    """
    cycle = n_exemplars - 1
    return [(position + 1 + j) % cycle for j in range(k)]
