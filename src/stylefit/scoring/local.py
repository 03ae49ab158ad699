"""Local naturalness: is each step of a response natural to the target given only its question and
the few steps just before it?

Follows arXiv 2510.03988 (Local Average Log Probability), as stylefit's issue defines it: the
paper finds whole-sequence log-probability stops tracking what trains well once responses are
long and come from different teachers, while steps scored in a short window keep the signal.
"""

from __future__ import annotations

import re
from typing import Any

from stylefit.core.errors import StylefitError
from stylefit.models.base import ContinuationRequest, ContinuationScore, LanguageModel
from stylefit.models.prompts import continuation_request
from stylefit.scoring.base import ExampleScore, ScoringItem, register
from stylefit.scoring.perplexity import _TemplatedScorer

# Where a step ends: a line break, or (sentences) a sentence's closing punctuation and its spaces.
_SPLITS = {"lines": re.compile(r"\n+"), "sentences": re.compile(r"(?<=[.!?])\s+|\n+")}


def split_steps(response: str, unit: str) -> list[tuple[int, int]]:
    """The (start, end) character spans of the response's steps. They tile it: a step begins with
    the separator before it (what the target writes next is "\n5 + 3 = 8"), and blank pieces join
    the step that follows them."""
    ends = [m.start() for m in _SPLITS[unit].finditer(response) if m.start() > 0] + [len(response)]
    spans, start = [], 0
    for end in ends:
        if response[start:end].strip():
            spans.append((start, end))
            start = end
    if spans and start < len(response):  # trailing blanks stay with the last step
        spans[-1] = (spans[-1][0], len(response))
    return spans


@register
class LocalNaturalness(_TemplatedScorer):
    """Mean over the response's steps of each step's mean token NLL (nats), each step scored given
    the question and only the ``window`` steps before it.

    - Steps: ``unit`` = "lines" (split at line breaks) or "sentences" (also after . ! ?).
    - ``window`` = w: how many preceding steps stay in the context (0: the question alone). The
      first w steps see all their predecessors, exactly as in the full response.
    - Direction: lower is better (more natural), like ``ppl``; the paper's LALP is its negative.
    - Cost: one forward pass per step, over the question plus at most w steps: about
      (w + 1) times ``ppl``'s response tokens for a many-step response, plus the question once per step.
    - A one-step response is scored exactly as ``ppl``'s mean NLL.
    """

    name = "local"
    version = "1"
    unit = "mean step NLL (nats)"

    def __init__(self, window: int = 2, unit: str = "lines", template: str = "native", paper_wrapper: str | None = None):
        super().__init__(template, paper_wrapper)
        if window < 0:
            raise StylefitError(f"scorer 'local': window must be 0 or more, got {window}")
        if unit not in _SPLITS:
            raise StylefitError(f"scorer 'local': unknown unit '{unit}' (known: {', '.join(_SPLITS)})")
        self.window, self.step_unit = window, unit

    def params(self) -> dict[str, Any]:
        return super().params() | {"window": self.window, "unit": self.step_unit}

    def requests(self, lm: LanguageModel, item: ScoringItem) -> list[ContinuationRequest]:
        c = item.candidate
        spans = split_steps(c.response, self.step_unit)
        if not spans:
            raise StylefitError(f"{item.label}: the response is empty")
        out = []
        for i, (start, end) in enumerate(spans):
            first = spans[max(0, i - self.window)][0] if self.window else start
            # the window's steps begin the target's answer and the step continues it; with no
            # window the step begins the answer, without the separator that joined it to the last
            step = c.response[start:end] if first < start else c.response[start:end].lstrip()
            base = continuation_request(lm, self.template, c.prompt, c.response[first:start], item.label, self.paper_wrapper)
            out.append(ContinuationRequest(base.context + base.continuation, step, base.special_tokens, item.label))
        return out

    def combine(self, item: ScoringItem, results: list[ContinuationScore]) -> ExampleScore:
        steps = [r.mean_nll for r in results]
        tokens = sum(r.n_tokens for r in results)
        return ExampleScore(sum(steps) / len(steps), sum(-sum(r.token_logprobs) for r in results) / tokens, tokens)
