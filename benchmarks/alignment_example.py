"""Benchmark the expected-alignment scorer on the bundled example with the default model.

    python benchmarks/alignment_example.py [--n 20] [--m 4]

Measures, in one run on this machine, from a fresh cache:
  sampling   the target's m samples per question (batched, stopping at the answer line)
  scoring    each alignment function over every strategy, reusing the same samples
and checks that a second alignment function generates nothing new. Results go to
benchmarks/results/alignment_example.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from stylefit.data.jsonl import write_atomic

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "chain_sum"
RESULTS = REPO / "benchmarks" / "results"
FUNCTIONS = ("hidden_cosine", "embed_cosine", "rouge_l", "token_f1", "exact")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--m", type=int, default=4)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="stylefit-bench-"))
    os.environ["STYLEFIT_HOME"] = str(home)
    from stylefit import select
    from stylefit.models import load_model
    from stylefit.models.registry import DEFAULT_MODEL
    from stylefit.report.terminal import ranking_text

    try:
        lm = load_model(DEFAULT_MODEL)
        rows = []
        for function in FUNCTIONS:
            before = dict(lm.stats)
            t = time.perf_counter()
            result = select(EXAMPLE, EXAMPLE / "candidates", target=lm, scorer="alignment",
                            scorer_params={"m": args.m, "function": function}, n=args.n)
            wall = time.perf_counter() - t
            generated = lm.stats["generated_tokens"] - before["generated_tokens"]
            rows.append({
                "function": function,
                "sampling_s": round(result.timings["prepare_s"], 1),
                "scoring_s": round(result.timings["score_s"], 1),
                "total_s": round(wall, 1),
                "s_per_question": round(wall / args.n, 2),
                "generated_tokens": generated,
                "ranking": [e.strategy for e in result.ranking.estimates],
                "ranking_text": ranking_text(result.ranking),
                "top_two_separated": result.ranking.top_two_separated,
                "notes": result.notes,
            })
            print(rows[-1], flush=True)
        assert all(r["generated_tokens"] == 0 for r in rows[1:]), "a second alignment function generated new samples"
    finally:
        shutil.rmtree(home, ignore_errors=True)

    import torch

    figures = {"n_questions": args.n, "m": args.m, "model": DEFAULT_MODEL, "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "runs": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_atomic(RESULTS / "alignment_example.json", json.dumps(figures, indent=2) + "\n")
    lines = [f"# alignment scorer on examples/chain_sum (N={args.n} questions, m={args.m} samples, {DEFAULT_MODEL}, {figures['torch_threads']} torch thread(s))", "",
             "Produced by `python benchmarks/alignment_example.py`; one run, one machine, fresh cache. The first row pays for",
             "the target's samples; later rows reuse them from the cache (generated tokens = 0).", "",
             "| function | sampling s | scoring s | s / question | generated tokens | ranking (best first; = shares a rank) | top two separated |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['function']} | {r['sampling_s']} | {r['scoring_s']} | {r['s_per_question']} | {r['generated_tokens']} | "
              f"{r['ranking_text']} | {r['top_two_separated']} |" for r in rows]
    write_atomic(RESULTS / "alignment_example.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
