"""Scorers read straight off the target's log-probabilities: perplexity, IFD and length."""

from __future__ import annotations

import math
from typing import Any

from stylefit.core.store import Store
from stylefit.data.candidates import CandidateSet
from stylefit.models.base import ContinuationRequest, ContinuationScore, LanguageModel, Progress
from stylefit.models.prompts import check_template, continuation_request, own_template, paper_wrapper_option, require_chat_template
from stylefit.scoring.base import ExampleScore, Scorer, ScoringItem, register


class _TemplatedScorer(Scorer):
    """A scorer of the response given the question under one prompt template: ``native`` (the
    target's chat template), ``paper`` (the authors' wrapper, ``paper_wrapper`` llama2 | mistral) or
    ``plain`` (prompt, newline, response: for base models)."""

    def __init__(self, template: str = "native", paper_wrapper: str | None = None):
        self.template = check_template(template)
        self.paper_wrapper = paper_wrapper_option(self.template, paper_wrapper, self.name)

    def params(self) -> dict[str, Any]:
        return {"template": self.template} | ({"paper_wrapper": self.paper_wrapper} if self.paper_wrapper else {})

    def prepare(self, lm: LanguageModel, candidates: CandidateSet, ids: list[str], store: Store,
                progress: Progress | None = None) -> list[str]:
        require_chat_template(lm, self.template, self.name, "template")
        return []

    def _request(self, lm: LanguageModel, item: ScoringItem) -> ContinuationRequest:
        c = item.candidate
        return continuation_request(lm, self.template, c.prompt, c.response, item.label, self.paper_wrapper)


@register
class Perplexity(_TemplatedScorer):
    """PPL(y|x) = exp(mean token NLL of the response given the question)."""

    name = "ppl"
    version = "1"
    unit = "perplexity"

    def requests(self, lm: LanguageModel, item: ScoringItem) -> list[ContinuationRequest]:
        return [self._request(lm, item)]

    def combine(self, item: ScoringItem, results: list[ContinuationScore]) -> ExampleScore:
        (r,) = results
        return ExampleScore(math.exp(r.mean_nll), r.mean_nll, r.n_tokens)


@register
class InstructionFollowingDifficulty(_TemplatedScorer):
    """IFD = L(y|x) / L(y): how much the question helps predict the response (mean token NLLs).

    L(y) is scored after the tokenizer's BOS token alone (EOS where there is no BOS)."""

    name = "ifd"
    version = "1"
    unit = "L(y|x)/L(y)"

    def requests(self, lm: LanguageModel, item: ScoringItem) -> list[ContinuationRequest]:
        return [
            self._request(lm, item),
            ContinuationRequest("", item.candidate.response, special_tokens=False, label=item.label),
        ]

    def combine(self, item: ScoringItem, results: list[ContinuationScore]) -> ExampleScore:
        conditional, unconditional = results
        return ExampleScore(conditional.mean_nll / unconditional.mean_nll, conditional.mean_nll, conditional.n_tokens)


@register
class ResponseLength(Scorer):
    """Response length in the target's tokens (a baseline: ranks shorter responses first). Counted
    as the response follows the prompt in the target's own template (plain text for a base model)."""

    name = "length"
    version = "1"
    unit = "tokens"
    needs_logprobs = False

    def requests(self, lm: LanguageModel, item: ScoringItem) -> list[ContinuationRequest]:
        c = item.candidate
        return [continuation_request(lm, own_template(lm), c.prompt, c.response, item.label)]

    def combine(self, item: ScoringItem, results: list[ContinuationScore]) -> ExampleScore:
        (count,) = results  # a TokenCount: no forward pass needed
        return ExampleScore(float(count.continuation), None, count.continuation)
