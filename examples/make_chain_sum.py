"""Build the bundled example's task: reasoning-gym `chain_sum`, 300 training and 100 test questions.

    python examples/make_chain_sum.py

Writes examples/chain_sum/{task.json,train.jsonl,test.jsonl}. Each training question carries two
programmatic solutions in its metadata, which the recipes of strategies.toml turn into strategies:
  solution          the expression evaluated left to right, one line per operation (worked_steps)
  verbose_solution  a wordy step-by-step template around the same computation (verbose_steps)

The candidate sets are then written by stylefit itself (the README's "The bundled example"):

    stylefit generate examples/chain_sum --recipes examples/chain_sum/strategies.toml --n 200 \
        -s answer_only -s worked_steps -s verbose_steps -s qwen_steps_corrected -s self_corrected \
        --out examples/chain_sum/candidates
"""

from __future__ import annotations

import json
from pathlib import Path

import reasoning_gym

from stylefit.data.jsonl import write_atomic, write_jsonl

OUT = Path(__file__).resolve().parent / "chain_sum"
N_TRAIN, N_TEST = 300, 100
CONFIG = dict(min_terms=2, max_terms=3, min_digits=1, max_digits=1)
PROMPT = "{question}\n\nPlease provide the final answer (a number) at the end, after 'Final Answer:'"


def questions(seed: int, size: int, exclude: set[str] = frozenset()) -> list[dict]:
    rows = []
    for entry in reasoning_gym.create_dataset("chain_sum", size=size * 10, seed=seed, **CONFIG):
        if entry["question"] in exclude or any(r["question"] == entry["question"] for r in rows):
            continue
        rows.append(entry)
        if len(rows) == size:
            return rows
    raise RuntimeError("not enough distinct questions")


def steps(expression: str) -> list[tuple[int, str, int, int]]:
    """(left, op, right, result) for each operation, evaluated left to right."""
    tokens = expression.split()
    value, out = int(tokens[0]), []
    for op, right in zip(tokens[1::2], tokens[2::2]):
        result = value + int(right) if op == "+" else value - int(right)
        out.append((value, op, int(right), result))
        value = result
    return out


def worked(entry: dict) -> str:
    lines = [f"{a} {op} {b} = {r}" for a, op, b, r in steps(entry["metadata"]["expression"])]
    return "\n".join(lines) + f"\nFinal Answer: {entry['answer']}"


def verbose(entry: dict) -> str:
    expression = entry["metadata"]["expression"]
    ops = steps(expression)
    lines = ["Let's solve this step by step.", "", f"We need to evaluate the expression {expression} from left to right.", ""]
    for i, (a, op, b, r) in enumerate(ops, start=1):
        verb = f"add {b} to {a}" if op == "+" else f"subtract {b} from {a}"
        lines.append(f"Step {i}: We {verb}, which gives {r}.")
    lines += ["", f"Therefore, the value of {expression} is {entry['answer']}.", "", f"Final Answer: {entry['answer']}"]
    return "\n".join(lines)


def main() -> None:
    train = questions(seed=1, size=N_TRAIN)
    test = questions(seed=2, size=N_TEST, exclude={e["question"] for e in train})
    row = lambda i, e, split: {"id": f"{split}-{i}", "question": e["question"], "gold": e["answer"], "metadata": e["metadata"]}
    solutions = lambda e: {"solution": worked(e), "verbose_solution": verbose(e)}
    write_jsonl(OUT / "train.jsonl", [row(i, e, "train") | {"metadata": e["metadata"] | solutions(e)} for i, e in enumerate(train)])
    write_jsonl(OUT / "test.jsonl", [row(i, e, "test") for i, e in enumerate(test)])
    task = {"name": "chain_sum", "verifier": "reasoning_gym", "prompt_template": PROMPT, "train": "train.jsonl", "test": "test.jsonl"}
    write_atomic(OUT / "task.json", json.dumps(task, indent=2) + "\n")

    print(f"wrote {OUT}: {len(train)} train, {len(test)} test questions")


if __name__ == "__main__":
    main()
