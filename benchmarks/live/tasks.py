"""Write the live track's task folders: reasoning-gym questions with two programmatic solutions each.

    python benchmarks/live/tasks.py            # writes benchmarks/live/tasks/<task>/

Every task has 300 training and 300 test questions (distinct, test disjoint from train), the
`reasoning_gym` verifier, and in each training question's metadata:
  solution          a terse worked solution, one line per step (the "human" / generator style)
  verbose_solution  a wordy step-by-step template around the same computation
Both end with "Final Answer: <gold>". Seeds and generator configs are fixed here, so a rerun
writes the same files.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path

import reasoning_gym

from stylefit.data.jsonl import write_atomic, write_jsonl
from stylefit.data.verifiers import check, get_verifier

OUT = Path(__file__).resolve().parent / "tasks"
N_TRAIN, N_TEST = 300, 300
PROMPT = "{question}\n\nPlease provide the final answer at the end, after 'Final Answer:'"
# chain_sum keeps the bundled example's prompt: with the generic one SmolLM2 writes "The final answer 3"
# (no colon) and none of its zero-shot answers passes the strict reading, so self-style has nothing to imitate.
NUMBER_PROMPT = "{question}\n\nPlease provide the final answer (a number) at the end, after 'Final Answer:'"


def chain_sum(meta: dict, gold: str) -> tuple[str, str]:
    tokens = meta["expression"].split()
    value, terse, wordy = int(tokens[0]), [], []
    for i, (op, right) in enumerate(zip(tokens[1::2], tokens[2::2]), start=1):
        result = value + int(right) if op == "+" else value - int(right)
        terse.append(f"{value} {op} {right} = {result}")
        verb = f"add {right} to {value}" if op == "+" else f"subtract {right} from {value}"
        wordy.append(f"Step {i}: We {verb}, which gives {result}.")
        value = result
    return ("\n".join(terse), "Let's solve this step by step.\n\nWe evaluate the expression "
            f"{meta['expression']} from left to right.\n\n" + "\n".join(wordy) + f"\n\nTherefore, the result is {gold}.")


def leg_counting(meta: dict, gold: str) -> tuple[str, str]:
    from reasoning_gym.arithmetic.leg_counting import ANIMALS

    terse, wordy, parts = [], [], []
    for animal, count in meta["animals"].items():
        legs = ANIMALS[animal]
        terse.append(f"{count} {animal} x {legs} legs = {count * legs}")
        wordy.append(f"A {animal} has {legs} legs, so {count} of them have {count} times {legs}, which is {count * legs} legs.")
        parts.append(str(count * legs))
    total = [" + ".join(parts) + f" = {gold}"] if len(parts) > 1 else []
    adding = f"\n\nAdding them up: {total[0]}." if total else ""
    return ("\n".join(terse + total), "Let's count the legs animal by animal.\n\n" + "\n".join(wordy) + adding
            + f"\n\nTherefore, there are {gold} legs in total.")


def count_bits(meta: dict, gold: str) -> tuple[str, str]:
    binary = meta["binary"]
    return (f"{meta['number']} in binary is {binary}\nIt has {gold} ones",
            f"Let's write the number {meta['number']} in base 2.\n\nIn binary it is {binary}.\n\n"
            f"Now we count the digits that are 1: there are {gold} of them.\n\nTherefore, {meta['number']} has {gold} bits set to 1.")


def letter_counting(meta: dict, gold: str) -> tuple[str, str]:
    letter = meta["target_letter"]
    terse, wordy = [], []
    for word in meta["span"]:
        n = word.lower().count(letter)
        terse.append(f"{word}: {n}")
        wordy.append(f'The word "{word}" contains the letter "{letter}" {n} time{"s" if n != 1 else ""}.')
    return ("\n".join(terse) + f"\nTotal: {gold}", f'Let\'s go through the text word by word and count the letter "{letter}".\n\n'
            + "\n".join(wordy) + f"\n\nAdding these up, the letter appears {gold} times.")


def products(meta: dict, gold: str) -> tuple[str, str]:
    terms = [int(t) for t in meta["expression"].split(" * ")]
    value, terse, wordy = terms[0], [], []
    for i, t in enumerate(terms[1:], start=1):
        terse.append(f"{value} * {t} = {value * t}")
        wordy.append(f"Step {i}: we multiply {value} by {t}, which gives {value * t}.")
        value *= t
    return ("\n".join(terse), f"Let's solve this step by step.\n\nWe multiply {meta['expression']} from left to right.\n\n"
            + "\n".join(wordy) + f"\n\nTherefore, the product is {gold}.")


def _reduce_once(node: ast.AST) -> tuple[ast.AST, str | None]:
    """Evaluate the leftmost operation whose operands are numbers; return the tree and what was done."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        value = node.operand.value
        # "-5" is a number's sign; "-( 5 + 8 )" negates a bracket, a step of its own
        return ast.Constant(-value), f"-({value}) = {-value}" if getattr(node, "bracket", False) else None
    if isinstance(node, ast.BinOp) and all(isinstance(n, ast.Constant) for n in (node.left, node.right)):
        a, b, op = node.left.value, node.right.value, node.op
        value = {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}.get(type(op), None)
        if value is None:
            assert b != 0 and a % b == 0, "basic_arithmetic divides exactly"
            value = a // b
        return ast.Constant(value), f"{ast.unparse(node)} = {value}"
    for field in ("operand", "left", "right"):
        child = getattr(node, field, None)
        if child is not None and not isinstance(child, ast.Constant):
            new, step = _reduce_once(child)
            setattr(node, field, new)
            return node, step
    raise AssertionError(f"nothing to reduce in {ast.unparse(node)}")


def basic_arithmetic(meta: dict, gold: str) -> tuple[str, str]:
    tree = ast.parse(meta["expression"], mode="eval").body
    for node in ast.walk(tree):
        if isinstance(node, ast.UnaryOp) and not isinstance(node.operand, ast.Constant):
            node.bracket = True
    terse, wordy = [], []
    while not isinstance(tree, ast.Constant):
        tree, step = _reduce_once(tree)
        if step:
            terse.append(step)
            done, value = step.split(" = ")
            wordy.append(f"Step {len(wordy) + 1}: we work out {done}, which gives {value}.")
    assert str(tree.value) == gold, (meta["expression"], tree.value, gold)
    return ("\n".join(terse or [f"{meta['expression']} = {gold}"]),
            f"Let's solve this step by step.\n\nWe evaluate {meta['expression']}, doing multiplication and division "
            "before addition and subtraction, and brackets first.\n\n" + "\n".join(wordy) + f"\n\nTherefore, the result is {gold}.")


def spell_backward(meta: dict, gold: str) -> tuple[str, str]:
    word = meta["word"]
    return (f"{word} = {' '.join(word)}\nbackward: {' '.join(reversed(word))} = {gold}",
            f"Let's spell the word \"{word}\" one letter at a time: {', '.join(word)}.\n\n"
            f"Now we read the letters from the last to the first: {', '.join(reversed(word))}.\n\n"
            f"Joining them together gives \"{gold}\".")


def simple_equations(meta: dict, gold: str) -> tuple[str, str]:
    lhs, rhs = meta["equation"].split(" = ")
    var, rhs = meta["variable"], int(rhs)
    tokens = lhs.replace(" - ", " + -").split(" + ")
    coef, const = 0, 0
    for t in tokens:
        if var in t:
            factor = t.replace(f"*{var}", "").replace(var, "")
            coef += int(factor) if factor not in ("", "-") else (-1 if factor == "-" else 1)
        else:
            const += int(t)
    terse, wordy = [meta["equation"]], []
    value = rhs - const
    if const:
        terse.append(f"{coef}*{var} = {rhs} - {const} = {value}" if const > 0 else f"{coef}*{var} = {rhs} + {-const} = {value}")
        move = f"subtract {const} from" if const > 0 else f"add {-const} to"
        wordy.append(f"Step {len(wordy) + 1}: we {move} both sides, which gives {coef}*{var} = {value}.")
    if coef != 1:
        terse.append(f"{var} = {value} / {coef} = {value // coef}")
        wordy.append(f"Step {len(wordy) + 1}: we divide both sides by {coef}, which gives {var} = {value // coef}.")
    assert value % coef == 0 and str(value // coef) == gold, (meta["equation"], gold)
    return ("\n".join(terse), f"Let's solve this step by step.\n\nWe want {var} alone on one side of {meta['equation']}.\n\n"
            + "\n".join(wordy or [f"Step 1: {var} is already alone."]) + f"\n\nTherefore, {var} = {gold}.")


def no_zero(entry: dict) -> bool:
    """products: drop a factor 0, which makes every such product 0 (the test set's most common answer otherwise)."""
    return all(int(t) != 0 for t in entry["metadata"]["expression"].split(" * "))


# name -> (generator config, solution writer, prompt template, which generated questions to keep)
TASKS: dict[str, tuple[dict, Callable[[dict, str], tuple[str, str]], str, Callable[[dict], bool] | None]] = {
    "chain_sum": (dict(min_terms=2, max_terms=3, min_digits=1, max_digits=1), chain_sum, NUMBER_PROMPT, None),
    "leg_counting": (dict(min_animals=1, max_animals=2, min_instances=1, max_instances=3), leg_counting, PROMPT, None),
    "count_bits": (dict(min_n=1, max_n=2047), count_bits, PROMPT, None),
    "letter_counting": (dict(min_words=1, max_words=3), letter_counting, PROMPT, None),
    "products": (dict(min_terms=3, max_terms=3, min_digits=1, max_digits=1), products, NUMBER_PROMPT, no_zero),
    "basic_arithmetic": (dict(min_terms=2, max_terms=3, min_digits=1, max_digits=1), basic_arithmetic, NUMBER_PROMPT, None),
    "spell_backward": (dict(min_word_len=3, max_word_len=5), spell_backward, PROMPT, None),
    "simple_equations": (dict(min_terms=2, max_terms=2, min_value=1, max_value=9), simple_equations, NUMBER_PROMPT, None),
}


def build(name: str) -> Path:
    config, solve, prompt, keep = TASKS[name]
    rows, seen = [], set()
    for entry in reasoning_gym.create_dataset(name, size=(N_TRAIN + N_TEST) * 20, seed=1, **config):
        if entry["question"] not in seen and (keep is None or keep(entry)):
            seen.add(entry["question"])
            rows.append(entry)
        if len(rows) == N_TRAIN + N_TEST:
            break
    else:
        raise SystemExit(f"{name}: only {len(rows)} distinct questions")
    folder = OUT / name

    def row(i: int, e: dict, split: str) -> dict:
        out = {"id": f"{split}-{i}", "question": e["question"], "gold": str(e["answer"]), "metadata": e["metadata"]}
        if split == "train":
            terse, wordy = solve(e["metadata"], str(e["answer"]))
            out["metadata"] = e["metadata"] | {"solution": f"{terse}\nFinal Answer: {e['answer']}",
                                               "verbose_solution": f"{wordy}\n\nFinal Answer: {e['answer']}"}
        return out

    train = [row(i, e, "train") for i, e in enumerate(rows[:N_TRAIN])]
    verifier = get_verifier("reasoning_gym")
    for r in train:  # a solution the task's own verifier rejects would be a wrong training target
        for field in ("solution", "verbose_solution"):
            if not check(verifier, r["metadata"][field], r["gold"], r["metadata"]).correct:
                raise SystemExit(f"{name} {r['id']}: the {field} does not verify")
    write_jsonl(folder / "train.jsonl", train)
    write_jsonl(folder / "test.jsonl", [row(i, e, "test") for i, e in enumerate(rows[N_TRAIN:])])
    spec = {"name": name, "verifier": "reasoning_gym", "prompt_template": prompt, "train": "train.jsonl", "test": "test.jsonl"}
    write_atomic(folder / "task.json", json.dumps(spec, indent=2) + "\n")
    return folder


if __name__ == "__main__":
    import sys

    for name in sys.argv[1:] or TASKS:
        print("wrote", build(name))
