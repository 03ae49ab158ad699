"""Self-exemplars for SPPL: the target's own correct zero-shot answers.

The target answers the first M training questions greedily (through the generation cache); the
task's verifier keeps the correct ones, each followed by "\\n\\nFinal Answer: {gold}". If none is
correct the paper falls back to the unfiltered answers; stylefit does the same but says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from stylefit.data.task import Task
from stylefit.data.verifiers import check
from stylefit.generation import zero_shot_answers
from stylefit.models.base import GenerationSpec, LanguageModel, Progress
from stylefit.store import Store


@dataclass
class ExemplarSet:
    texts: list[str]  # in the order of the training questions they answer
    question_ids: list[str]
    answered: int  # M: zero-shot answers generated
    correct: int
    hit_length_limit: int  # generations cut by max_new_tokens (counted, they are kept as written)
    filtered: bool  # False = no correct answer, the unfiltered fallback is in use

    def notes(self) -> list[str]:
        notes = [
            f"self-exemplars: {self.correct}/{self.answered} zero-shot answers correct"
            + ("" if self.filtered else " -> NONE correct, fell back to all answers unfiltered (as the paper does)"),
        ]
        if self.hit_length_limit:
            notes.append(f"self-exemplars: {self.hit_length_limit}/{self.answered} zero-shot answers hit the token limit")
        return notes


def build_self_exemplars(
    lm: LanguageModel, task: Task, m: int, spec: GenerationSpec, store: Store, progress: Progress | None = None
) -> ExemplarSet:
    questions = task.train[:m]
    generations = zero_shot_answers(lm, task, questions, spec, store, progress)
    verifier = task.verifier
    correct = [check(verifier, g.text, q.gold, q.metadata).correct for q, g in zip(questions, generations)]
    keep = [i for i, ok in enumerate(correct) if ok]
    filtered = bool(keep)
    if not filtered:
        keep = list(range(len(questions)))
    return ExemplarSet(
        texts=[generations[i].text.strip() + "\n\nFinal Answer: " + questions[i].gold for i in keep],
        question_ids=[questions[i].id for i in keep],
        answered=len(questions),
        correct=sum(correct),
        hit_length_limit=sum(g.finish_reason == "length" for g in generations),
        filtered=filtered,
    )


def exemplar_positions(position: int, k: int, n_exemplars: int) -> list[int]:
    """The authors' choice of exemplars for the candidate at ``position``.

    One counter per slot starts at 0..k-1; before every candidate each counter is incremented
    and reset to 0 on reaching n-1. So the last exemplar is never used, and candidate i sees
    exemplars (i + 1 + j) mod (n - 1) for j < k. k is capped at n - 1 by the caller.
    """
    cycle = n_exemplars - 1
    return [(position + 1 + j) % cycle for j in range(k)]
