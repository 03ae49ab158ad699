"""Evaluation: greedy answers to held-out questions, checked by the task's verifier.

Every item keeps its raw output and both extractions (strict: after the "Final Answer:" marker;
flexible: falls back to e.g. the last number), so an accuracy difference between two runs can be
traced to the items that moved (DESIGN.md §5: extraction errors masquerade as accuracy).
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel

from stylefit.data.verifiers import check, get_verifier
from stylefit.models.base import Generation, GenerationSpec, LanguageModel, Progress
from stylefit.models.prompts import answer_spec, continuation_request, own_template, render_prompt


class EvalQuestion(BaseModel):
    """A held-out question as the run sees it: the user prompt (task instruction included) and the gold label."""

    id: str
    prompt: str
    gold: str
    metadata: dict[str, Any] = {}


class ItemResult(BaseModel):
    id: str
    gold: str
    output: str
    n_tokens: int
    finish_reason: str
    strict_extracted: str | None
    strict_correct: bool
    flexible_extracted: str | None
    flexible_correct: bool
    gold_nll: float | None = None  # mean token NLL of "Final Answer: <gold>" after the prompt, when asked


class Evaluation(BaseModel):
    n: int
    accuracy_strict: float
    accuracy_flexible: float
    hit_length_limit: int  # outputs cut by max_new_tokens (kept and scored as written)
    generated_tokens: int
    generation_s: float
    verification_s: float
    items: list[ItemResult]

    def accuracy(self, metric: str) -> float:
        return self.accuracy_strict if metric == "strict" else self.accuracy_flexible

    @property
    def looping(self) -> int:
        """Of the outputs cut by max_new_tokens, those caught in a loop (``looping``): a larger budget
        would only repeat them, so they do not measure the limit."""
        return sum(i.finish_reason == "length" and looping(i.output) for i in self.items)

    def cut_right(self, metric: str) -> int:
        """Outputs cut by max_new_tokens, not in a loop, that are right as they stand (a longer one could still turn)."""
        return sum(i.finish_reason == "length" and not looping(i.output) and (i.strict_correct if metric == "strict" else i.flexible_correct)
                   for i in self.items)


LOOP_SPAN = 100  # characters a repeated cycle must cover at the end of an output
LONGEST_CYCLE = 300  # characters


def looping(text: str) -> bool:
    """Whether ``text`` ends in one cycle repeated over at least ``LOOP_SPAN`` characters and three
    times: greedy decoding caught in a loop, as a model that never learned to stop writes."""
    for period in range(1, LONGEST_CYCLE + 1):
        span = max(3 * period, LOOP_SPAN)
        if len(text) < span:
            return False
        tail = text[-span:]
        if tail[:-period] == tail[period:]:
            return True
    return False


def score_outputs(questions: list[EvalQuestion], outputs: list[Generation], verifier_name: str) -> Evaluation:
    """Check known outputs against the gold labels, strictly and flexibly."""
    if len(outputs) != len(questions):
        raise ValueError(f"{len(outputs)} outputs for {len(questions)} questions")
    if not questions:
        raise ValueError("no questions to evaluate")
    verifier = get_verifier(verifier_name)
    t = time.perf_counter()
    items = []
    for q, g in zip(questions, outputs):
        strict = check(verifier, g.text, q.gold, q.metadata, strict=True)
        flexible = check(verifier, g.text, q.gold, q.metadata, strict=False)
        items.append(ItemResult(
            id=q.id, gold=q.gold, output=g.text, n_tokens=g.n_tokens, finish_reason=g.finish_reason,
            strict_extracted=strict.extracted, strict_correct=strict.correct,
            flexible_extracted=flexible.extracted, flexible_correct=flexible.correct,
        ))
    n = len(items)
    return Evaluation(
        n=n,
        accuracy_strict=sum(i.strict_correct for i in items) / n,
        accuracy_flexible=sum(i.flexible_correct for i in items) / n,
        hit_length_limit=sum(i.finish_reason == "length" for i in items),
        generated_tokens=sum(i.n_tokens for i in items),
        generation_s=0.0,
        verification_s=time.perf_counter() - t,
        items=items,
    )


def evaluate(
    lm: LanguageModel, questions: list[EvalQuestion], verifier_name: str, max_new_tokens: int,
    batch_size: int = 16, progress: Progress | None = None,
) -> Evaluation:
    """Answer every question greedily as the model was trained (its chat template, or plain text
    without one), then score the answers."""
    prompts = [render_prompt(lm, own_template(lm), q.prompt) for q in questions]
    t = time.perf_counter()
    outputs = lm.generate(prompts, answer_spec(lm, GenerationSpec(max_new_tokens=max_new_tokens)), progress=progress, batch_size=batch_size)
    generation_s = time.perf_counter() - t
    return score_outputs(questions, outputs, verifier_name).model_copy(update={"generation_s": generation_s})


def gold_answer_text(gold: str) -> str:
    return f"Final Answer: {gold}"


def with_gold_loss(lm: LanguageModel, questions: list[EvalQuestion], evaluation: Evaluation) -> Evaluation:
    """The evaluation with each item's gold-answer loss: how readily the model states the right
    answer in the task's format straight after the question (a forward pass, no generation)."""
    requests = [continuation_request(lm, own_template(lm), q.prompt, gold_answer_text(q.gold), f"question '{q.id}'") for q in questions]
    scores = lm.loglikelihood(requests)
    items = [item.model_copy(update={"gold_nll": score.mean_nll}) for item, score in zip(evaluation.items, scores)]
    return evaluation.model_copy(update={"items": items})
