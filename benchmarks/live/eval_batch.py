"""How the evaluation's generation batch size changes a run's answering time (the live track's setting).

    python benchmarks/live/eval_batch.py [task] [n]     # default: products, the first 100 test questions

Answers the same test questions greedily with the untrained default target at several batch
sizes, in one process, and checks that the answers are the same (batching must not change
them). Writes benchmarks/results/live_eval_batch.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from stylefit.data.jsonl import write_atomic
from stylefit.data.task import load_task
from stylefit.models import load_model
from stylefit.training.evaluate import EvalQuestion, evaluate

HERE = Path(__file__).resolve().parent
SIZES = (16, 32, 64)


def main(task_name: str = "products", n: int = 100) -> None:
    import torch

    task = load_task(HERE / "tasks" / task_name)
    questions = [EvalQuestion(id=q.id, prompt=task.prompt(q), gold=q.gold, metadata=q.metadata) for q in task.test[:n]]
    lm = load_model("smollm2-135m-instruct")
    rows, outputs = [], {}
    for size in SIZES:
        t = time.perf_counter()
        evaluation = evaluate(lm, questions, task.verifier_name, 128, size)
        seconds = time.perf_counter() - t
        outputs[size] = [item.output for item in evaluation.items]
        rows.append({"batch_size": size, "seconds": round(seconds, 1), "generated_tokens": evaluation.generated_tokens,
                     "tokens_per_s": round(evaluation.generated_tokens / seconds, 1), "accuracy": evaluation.accuracy_strict})
        print(rows[-1], flush=True)
    same = {size: sum(a == b for a, b in zip(outputs[SIZES[0]], outputs[size])) for size in SIZES}
    result = {"task": task_name, "n": n, "max_new_tokens": 128, "threads": torch.get_num_threads(), "rows": rows,
              "outputs_identical_to_batch_16": same, "speedup_vs_16": {r["batch_size"]: round(rows[0]["seconds"] / r["seconds"], 2) for r in rows}}
    write_atomic(HERE.parents[0] / "results" / "live_eval_batch.json", json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(*(sys.argv[1:2]), *(int(x) for x in sys.argv[2:3]))
