"""Build the bundled example: reasoning-gym `chain_sum` with five candidate strategies.

    python examples/make_chain_sum.py            # needs the qwen extra: make install-qwen

Writes examples/chain_sum/{task.json,train.jsonl,test.jsonl,candidates/*.jsonl}. Generations go
through stylefit's cache, so a rerun is fast and gives the same files (greedy decoding).

Strategies (responses for the first N_CANDIDATES training questions):
  answer_only       "Final Answer: {gold}" and nothing else
  worked_steps      the generator's expression evaluated left to right, one line per operation
  verbose_steps     a wordy step-by-step template around the same computation
  qwen_steps_corrected  Qwen2.5-Coder-0.5B-Instruct asked to work step by step, final answer set to gold
  self_corrected    the target's (SmolLM2-135M-Instruct) own zero-shot answer, final answer set to gold
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import reasoning_gym

from stylefit.data.jsonl import write_atomic, write_jsonl
from stylefit.models import GenerationSpec, load_model
from stylefit.prompts import render_prompt
from stylefit.generation import generate_cached
from stylefit.store import Store

OUT = Path(__file__).resolve().parent / "chain_sum"
N_TRAIN, N_TEST, N_CANDIDATES = 300, 100, 200
CONFIG = dict(min_terms=2, max_terms=3, min_digits=1, max_digits=1)
PROMPT = "{question}\n\nPlease provide the final answer (a number) at the end, after 'Final Answer:'"
# The teacher is asked to show its work, like the paper's step-by-step teacher strategy.
TEACHER_PROMPT = "{question}\n\nSolve it step by step, showing each operation, then give the final answer (a number) at the end, after 'Final Answer:'"
SPEC = GenerationSpec(max_new_tokens=200)


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


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def corrected(answer: str, gold: str) -> str:
    """Minimal correction: in the model's last final-answer line, put the gold number in place of
    its own; where that line is not the "Final Answer: N" format, add such a line."""
    lines = answer.strip().splitlines()
    marked = [i for i, line in enumerate(lines) if "final answer" in line.lower()]
    if marked and _NUMBER.search(lines[marked[-1]]):
        i = marked[-1]
        last = list(_NUMBER.finditer(lines[i]))[-1]
        lines[i] = lines[i][: last.start()] + gold + lines[i][last.end() :]
        lines = lines[: i + 1]  # whatever followed the final answer goes
        if lines[i].strip().lower().startswith("final answer:"):
            return "\n".join(lines)
    return "\n".join(lines + [f"Final Answer: {gold}"])


def model_answers(name: str, train: list[dict], store: Store, prompt: str = PROMPT) -> list[str]:
    lm = load_model(name)
    prompts = [render_prompt(lm, "native", prompt.replace("{question}", e["question"])) for e in train]
    return [g.text for g in generate_cached(lm, prompts, SPEC, store)]


def main() -> None:
    train = questions(seed=1, size=N_TRAIN)
    test = questions(seed=2, size=N_TEST, exclude={e["question"] for e in train})
    row = lambda i, e, split: {"id": f"{split}-{i}", "question": e["question"], "gold": e["answer"], "metadata": e["metadata"]}
    write_jsonl(OUT / "train.jsonl", [row(i, e, "train") for i, e in enumerate(train)])
    write_jsonl(OUT / "test.jsonl", [row(i, e, "test") for i, e in enumerate(test)])
    task = {"name": "chain_sum", "verifier": "reasoning_gym", "prompt_template": PROMPT, "train": "train.jsonl", "test": "test.jsonl"}
    write_atomic(OUT / "task.json", json.dumps(task, indent=2) + "\n")

    store = Store()
    subset = train[:N_CANDIDATES]
    strategies = {
        "answer_only": [f"Final Answer: {e['answer']}" for e in subset],
        "worked_steps": [worked(e) for e in subset],
        "verbose_steps": [verbose(e) for e in subset],
        "qwen_steps_corrected": [
            corrected(a, e["answer"])
            for a, e in zip(model_answers("qwen2.5-coder-0.5b-instruct", subset, store, TEACHER_PROMPT), subset)
        ],
        "self_corrected": [corrected(a, e["answer"]) for a, e in zip(model_answers("smollm2-135m-instruct", subset, store), subset)],
    }
    for name, responses in strategies.items():
        write_jsonl(OUT / "candidates" / f"{name}.jsonl", [{"id": f"train-{i}", "response": r} for i, r in enumerate(responses)])
    print(f"wrote {OUT}: {len(train)} train, {len(test)} test, {len(strategies)} strategies x {len(subset)} candidates")


if __name__ == "__main__":
    main()
