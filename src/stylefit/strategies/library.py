"""The strategy library: the built-in recipes, and the user's own from a TOML file.

The built-in prompts follow the paper's teacher prompts (arXiv 2502.11779, PROMPTS.md of the
paper-bench bundle) and the minimum-change recipe of arXiv 2402.11192, in our own words. A user
file adds or overrides recipes without any Python:

    [strategy.concise_steps]
    description = "Qwen, step by step, in few words"
    kind = "teacher"
    teacher = "qwen2.5-coder-0.5b-instruct"
    prompt = "{question}\\nSolve it step by step, briefly."
    temperature = 0.7
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from stylefit.core.errors import StylefitError
from stylefit.strategies.recipe import Strategy

# The instruction every teacher prompt ends with: the answer must be learnable and checkable.
_FORMAT = ("Answer as if you did not know the gold answer: this response will be used to train a model. "
           "Do not add greetings or remarks about these instructions. Reason first, then end with the line "
           "'Final Answer: <answer>'.")
_DIRECT = "Question: {question}\n\nThe gold answer is {gold}.\n\n" + _FORMAT
_STEPS = "Question: {question}\n\nThe gold answer is {gold}.\n\nSolve the question step by step. " + _FORMAT
_WITH_EXAMPLES = ("Here are worked examples of the kind of solution we want.\n\n{examples}"
                  "Now solve this question in the same way.\n\nQuestion: {question}\n\nThe gold answer is {gold}.\n\n" + _FORMAT)

BUILT_IN: tuple[Strategy, ...] = (
    Strategy(name="direct", kind="teacher", teacher="qwen2.5-coder-0.5b-instruct", prompt=_DIRECT,
             description="a teacher answers directly (its reasoning, then the final answer)"),
    Strategy(name="step_by_step", kind="teacher", teacher="qwen2.5-coder-0.5b-instruct", prompt=_STEPS,
             description="a teacher answers step by step"),
    Strategy(name="teacher_examples", kind="teacher", teacher="qwen2.5-coder-0.5b-instruct", prompt=_WITH_EXAMPLES,
             examples="teacher", description="a teacher answers after two worked examples written in its own style"),
    Strategy(name="human_examples", kind="teacher", teacher="qwen2.5-coder-0.5b-instruct", prompt=_WITH_EXAMPLES,
             examples="human", description="a teacher answers after two human-written worked examples"),
    Strategy(name="rewrite_gold", kind="rewrite", teacher="qwen2.5-coder-0.5b-instruct",
             prompt=("Question: {question}\n\nA correct solution:\n{solution}\n\nRestate this solution in your own words. "
                     "Keep its reasoning unchanged: it is correct. " + _FORMAT),
             description="a teacher restates the human (gold) solution in its own words"),
    Strategy(name="gold", kind="gold", description="the human or gold solution as it is"),
    Strategy(name="answer_only", kind="answer_only", description="only 'Final Answer: <gold>'"),
    Strategy(name="minimum_change", kind="minimum_change", teacher="qwen2.5-coder-0.5b-instruct", fix_final_answer=True,
             prompt=("Question: {question}\n\nThe gold answer is {gold}.\n\nA student answered:\n{answer}\n\n"
                     "Correct the student's answer with as few changes as possible: keep its wording, its order and "
                     "its style, and change only what is wrong. Write out the whole corrected answer, ending with the "
                     "line 'Final Answer: <answer>', and nothing else."),
             description="the target's own answer, its errors minimally corrected by a teacher (arXiv 2402.11192)"),
    Strategy(name="self_style_rewrite", kind="self_style", teacher="qwen2.5-coder-0.5b-instruct",
             prompt=("Here is how a student writes its answers:\n\n{own_answers}Question: {question}\n\nA correct "
                     "solution:\n{gold}\n\nRewrite the correct solution the way the student writes: its length, "
                     "phrasing and layout. Keep the reasoning correct. " + _FORMAT),
             description="a teacher rewrites the gold solution imitating k of the target's own correct answers"),
    Strategy(name="paraphrase", kind="paraphrase", teacher="qwen2.5-coder-0.5b-instruct",
             prompt=("Question: {question}\n\nAn answer:\n{answer}\n\nParaphrase this answer: say the same things in "
                     "other words, keeping its reasoning and its final answer. End with the line "
                     "'Final Answer: <answer>'."),
             description="a paraphrase of a familiar answer (the target's own): the predecessor paper's control"),
)


def built_in() -> dict[str, Strategy]:
    return {s.name: s for s in BUILT_IN}


def load_recipes(path: str | Path) -> dict[str, Strategy]:
    """The ``[strategy.<name>]`` tables of a TOML file; any problem is one line naming the file and recipe."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StylefitError(f"{path}: file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise StylefitError(f"{path}: not valid TOML ({e})") from None
    unknown = sorted(set(data) - {"strategy"})
    if unknown:
        raise StylefitError(f"{path}: unknown top-level key '{unknown[0]}' (recipes go under [strategy.<name>])")
    tables = data.get("strategy", {})
    if not isinstance(tables, dict) or not tables:
        raise StylefitError(f"{path}: no [strategy.<name>] table")
    recipes = {}
    for name, fields in tables.items():
        if not isinstance(fields, dict):
            raise StylefitError(f"{path}: strategy.{name} must be a table")
        try:
            recipes[name] = Strategy(name=name, source=str(path), **fields)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(map(str, first["loc"]))
            raise StylefitError(f"{path}: strategy.{name}{'.' + where if where else ''}: {first['msg']}") from None
    return recipes


def strategy_library(*files: str | Path) -> dict[str, Strategy]:
    """The built-in recipes, then each file's in order (a later recipe of the same name replaces an earlier one)."""
    library = built_in()
    for file in files:
        library |= load_recipes(file)
    return library


def get_strategy(name: str, library: dict[str, Strategy] | None = None) -> Strategy:
    library = library if library is not None else built_in()
    if name not in library:
        raise StylefitError(f"unknown strategy '{name}' (known: {', '.join(library)})")
    return library[name]
