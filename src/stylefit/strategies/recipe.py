"""A response-generation strategy as a recipe: who writes the training target, from which prompt,
with which sampling parameters. A recipe knows nothing of models or files; it only says what to
ask for and checks that its prompt asks for things that exist.

Placeholders a prompt may use:
- ``{question}``: the task's prompt for the question (its answer-format instruction included);
- ``{gold}``: the gold label (the answer);
- ``{solution}``: the question's human solution (``metadata[solution_field]``; an error where a
  question has none);
- ``{examples}``: the worked examples, rendered by ``examples_template`` for each;
- ``{answer}``: the target's own answer (minimum change, paraphrase);
- ``{own_answers}``: k of the target's own correct answers (self-style rewrite).
Literal braces are written ``{{`` and ``}}``.
"""

from __future__ import annotations

import string
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PLACEHOLDERS = ("question", "gold", "solution", "examples", "answer", "own_answers")

# What each kind of strategy needs its prompt to contain (None: no prompt, no teacher).
KINDS: dict[str, tuple[str, ...] | None] = {
    "teacher": ("question",),  # a teacher answers the question (optionally after worked examples)
    "rewrite": ("question", "solution"),  # a teacher restates the human solution
    "minimum_change": ("question", "gold", "answer"),  # a teacher corrects the target's own answer, minimally
    "self_style": ("question", "gold|solution", "own_answers"),  # a teacher rewrites gold in the target's own style
    "paraphrase": ("question", "answer"),  # a teacher paraphrases a familiar answer (the target's own)
    "gold": None,  # the human solution as it is
    "answer_only": None,  # "Final Answer: {gold}" and nothing else
}


def placeholders(template: str) -> set[str]:
    """The named fields of a str.format template (literal braces excluded)."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


class Strategy(BaseModel):
    """One named way of writing training targets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="also the candidate file's name")
    description: str
    kind: Literal["teacher", "rewrite", "minimum_change", "self_style", "paraphrase", "gold", "answer_only"]
    teacher: str | None = Field(None, description="model name, local folder, hub id or server URL; 'target' = the target itself")
    prompt: str | None = None
    examples: Literal["none", "teacher", "human"] = Field("none", description="worked examples shown before the question")
    n_examples: int = Field(2, ge=1)
    examples_template: str = 'Example {index}: Question: "{question}"\nGold answer: {gold}\nSolution: {solution}\n\n'
    solution_field: str = Field("solution", description="the question metadata field holding its human solution")
    k_own_answers: int = Field(3, ge=1, description="self_style: how many of the target's correct answers to imitate")
    own_answers_fallback: bool = Field(False, description="self_style: when none of the target's answers is correct, "
                                       "imitate its unfiltered answers (as SPPL's self-exemplars do), and say so")
    temperature: float = Field(0.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(512, ge=1)
    length_retries: int = Field(2, ge=0, description="a response cut by max_new_tokens is generated again with twice the "
                                "budget, up to this many times; one still cut is flagged truncated and never fixed")
    seed: int = 0
    retries: int = Field(2, ge=0, description="a wrong response is generated again up to this many times")
    fix_final_answer: bool = Field(False, description="replace a still-wrong final answer by the gold one (counted)")
    source: str = Field("built-in", description="where the recipe was defined")

    @property
    def uses_human_solution(self) -> bool:
        """Whether writing it needs the task's worked solutions (``metadata[solution_field]``), which only a user
        with a solution generator or annotated data has: the gold kind, a prompt or human worked examples showing them."""
        return (self.kind == "gold" or "solution" in placeholders(self.prompt or "")
                or (self.examples == "human" and "solution" in placeholders(self.examples_template)))

    def fingerprint(self) -> dict:
        """The recipe as written into manifests, and compared to keep a set already written."""
        data = self.model_dump(mode="json")
        if not self.own_answers_fallback:  # added later: recipes without it keep their fingerprint
            del data["own_answers_fallback"]
        return data

    @model_validator(mode="after")
    def _check_prompt(self) -> "Strategy":
        needs = KINDS[self.kind]
        if needs is None:
            if self.prompt is not None or self.teacher is not None:
                raise ValueError(f"a '{self.kind}' strategy has no prompt and no teacher")
            return self
        if self.prompt is None or self.teacher is None:
            raise ValueError(f"a '{self.kind}' strategy needs a prompt and a teacher")
        try:
            used = placeholders(self.prompt)
        except ValueError as e:
            raise ValueError(f"prompt is not a valid template ({e})") from None
        unknown = sorted(used - set(PLACEHOLDERS))
        if unknown:
            raise ValueError(f"prompt uses unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)} "
                             f"(known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})")
        missing = [p for p in needs if not used & set(p.split("|"))]  # "a|b": either will do
        if missing:
            raise ValueError(f"a '{self.kind}' prompt must contain "
                             f"{', '.join(' or '.join('{' + x + '}' for x in p.split('|')) for p in missing)}")
        if (self.examples != "none") != ("examples" in used):
            raise ValueError("the prompt contains {examples} exactly when examples is 'teacher' or 'human'")
        if placeholders(self.examples_template) - {"index", "question", "gold", "solution"}:
            raise ValueError("examples_template may use only {index}, {question}, {gold} and {solution}")
        return self

    def render(self, question: str, gold: str, *, solution: str | None = None, examples: list[tuple[str, str, str]] = (),
               answer: str | None = None, own_answers: list[str] = ()) -> str:
        """The teacher's prompt for one question. ``examples``: (question, gold, solution) triples."""
        if self.prompt is None:
            raise ValueError(f"strategy '{self.name}' ({self.kind}) has no prompt")
        shown = "".join(self.examples_template.format(index=i, question=q, gold=g, solution=s)
                        for i, (q, g, s) in enumerate(examples, start=1))
        own = "".join(f"Example answer {i}:\n{a}\n\n" for i, a in enumerate(own_answers, start=1))
        return self.prompt.format(question=question, gold=gold, solution=solution or "", examples=shown, answer=answer or "",
                                  own_answers=own)
