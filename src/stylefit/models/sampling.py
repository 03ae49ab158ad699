"""The target's own generations, through the cache: each is generated once per (model revision,
dtype, chat template, prompt, sampling parameters, seed, sample index) and shared by every scorer
and strategy; and its own correct answers (self-exemplars), which SPPL and the self-style strategy show."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from stylefit.core.store import Store, content_key
from stylefit.data.task import Question, Task
from stylefit.data.verifiers import check
from stylefit.models.base import Generation, GenerationError, GenerationSpec, LanguageModel, Progress
from stylefit.models.prompts import answer_spec, own_template, render_prompt

GENERATION_KIND = "generation"  # generations in the store
BATCH = 64  # the local backend's batch size


def generate_cached(
    lm: LanguageModel,
    prompts: list[str],
    spec: GenerationSpec,
    store: Store,
    progress: Progress | None = None,
    sample_index: list[int] | None = None,
) -> list[Generation]:
    """One generation per prompt; ``sample_index`` tells repeated prompts' samples apart.

    Generations are committed as the model finishes them (a batch locally, a request on a
    server), so a run that fails or is killed loses only what was in flight. A ``GenerationError``
    gives the failing prompt's index in ``prompts``; ``progress`` counts cached and new ones.
    """
    sample_index = sample_index or [0] * len(prompts)
    spec = answer_spec(lm, spec)
    sampled = spec.temperature > 0
    keys = [
        content_key({"kind": GENERATION_KIND, "model": lm.revision, "dtype": lm.dtype, "template": lm.template_id, "prompt": p,
                     "spec": spec.as_key()} | ({"sample": j} if sampled else {}) | ({"bos_prefix": True} if lm.bos_prefix else {}))
        for p, j in zip(prompts, sample_index)
    ]
    # Each sample's seed depends on its run seed, prompt and index, not on what else is in its batch.
    seeds = [int.from_bytes(hashlib.sha256(k.encode()).digest()[:8], "little") for k in keys]
    found = store.get_many(keys)
    if progress and found:
        progress(sum(k in found for k in keys))

    # Fixed blocks of the whole request (by prompt length, then position), each generated as one call
    # and committed batch by batch: a run resumed after a kill generates a missing block exactly as an
    # uninterrupted run does, and two processes sharing the store each claim different blocks.
    order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
    blocks = [order[start : start + BATCH] for start in range(0, len(order), BATCH)]
    units = {content_key({"unit": "generation-block", "keys": [keys[i] for i in block]}): block
             for block in blocks if any(keys[i] not in found for i in block)}

    def compute(unit: str) -> None:
        todo = [i for i in units[unit] if keys[i] not in found]
        since = time.perf_counter()  # a batch's cost: the time since the one before it was kept

        def keep(done: dict[int, Generation]) -> None:
            nonlocal since
            fresh = {keys[todo[j]]: g.__dict__ for j, g in done.items()}
            now = time.perf_counter()
            store.put_many(GENERATION_KIND, fresh, seconds=now - since)
            since = now
            found.update(fresh)
            if progress:
                progress(len(done))

        try:
            lm.generate([prompts[i] for i in todo], spec, seeds=[seeds[i] for i in todo], batch_size=BATCH, on_done=keep)
        except GenerationError as e:
            raise GenerationError(e.reason, todo[e.index], e.prompt) from None

    def computed_elsewhere(unit: str) -> None:  # by another process sharing the store
        fresh = store.get_many([keys[i] for i in units[unit] if keys[i] not in found])
        found.update(fresh)
        if progress:
            progress(len(fresh))

    store.compute_claimed({u: [keys[i] for i in block] for u, block in units.items()}, compute, computed_elsewhere)
    return [Generation(**found[k]) for k in keys]


def zero_shot_answers(lm: LanguageModel, task: Task, questions: list[Question], spec: GenerationSpec, store: Store,
                      progress: Progress | None = None) -> list[Generation]:
    """The model's own answers to the task's prompts, in its own template (chat, or plain text for a
    base model), through the cache: SPPL's exemplars, minimum change and worked examples share them."""
    prompts = [render_prompt(lm, own_template(lm), task.prompt(q)) for q in questions]
    return generate_cached(lm, prompts, spec, store, progress)


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
    """Self-exemplars: the target's own correct zero-shot answers.

    The target answers the first M training questions greedily (through the generation cache); the
    task's verifier keeps the correct ones, each followed by "\\n\\nFinal Answer: {gold}". If none is
    correct the paper falls back to the unfiltered answers; stylefit does the same but says so.
    """
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
