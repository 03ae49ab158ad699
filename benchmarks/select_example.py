"""Benchmark `select --scorer sppl` on the bundled example with the default model.

    python benchmarks/select_example.py [--n 50]

One run measures, on this machine:
  cold    fresh $STYLEFIT_HOME: GGUF -> HF conversion, target's zero-shot answers, SPPL scoring
  warm    the same selection again from the cache, in-process and as a fresh `stylefit` CLI process
  rates   SPPL scoring throughput (tokens/s) against the plain forward-pass rate of the same model
Results go to benchmarks/results/select_example.{json,md}, and the selection itself to
select_example_result.json, from which the README's example table is rendered
(benchmarks/readme_example.py). Targets: cold < 300 s, warm CLI < 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from stylefit.data.jsonl import write_atomic

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "chain_sum"
RESULTS = REPO / "benchmarks" / "results"


def forward_rate(lm, batch: int = 4, length: int = 256, repeats: int = 3) -> float:
    """Tokens/s of a plain forward pass (no cache, no log-softmax) over random tokens."""
    x = torch.randint(0, lm.model.config.vocab_size, (batch, length))
    times = []
    with torch.inference_mode():
        lm.model(x[:, :16])  # warm-up
        for _ in range(repeats):
            t = time.perf_counter()
            lm.model(x)
            times.append(time.perf_counter() - t)
    return batch * length / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="stylefit-bench-"))
    os.environ["STYLEFIT_HOME"] = str(home)
    from stylefit import select
    from stylefit.models import load_model
    from stylefit.models.registry import DEFAULT_MODEL
    from stylefit.report.terminal import write_json

    try:
        t0 = time.perf_counter()
        lm = load_model(DEFAULT_MODEL)  # cold: converts the GGUF
        convert_s = time.perf_counter() - t0
        cold = select(EXAMPLE, EXAMPLE / "candidates", target=lm, scorer="sppl", n=args.n)
        cold_s = time.perf_counter() - t0
        stats = dict(lm.stats)

        t = time.perf_counter()
        warm = select(EXAMPLE, EXAMPLE / "candidates", target=DEFAULT_MODEL, scorer="sppl", n=args.n)
        warm_s = time.perf_counter() - t
        assert warm.computed == 0 and warm.best == cold.best

        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "stylefit", "select", str(EXAMPLE), str(EXAMPLE / "candidates"), "--scorer", "sppl", "--n", str(args.n)],
                       check=True, capture_output=True, env=os.environ | {"STYLEFIT_HOME": str(home)})
        warm_cli_s = time.perf_counter() - t

        fwd = forward_rate(lm)
        score_s = cold.timings["score_s"]
        figures = {
            "machine": f"{os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads",
            "n_questions": args.n,
            "strategies": len(cold.ranking.estimates),
            "cold_total_s": round(cold_s, 1),
            "cold_convert_s": round(convert_s, 1),
            "cold_target_answers_s": round(cold.timings["prepare_s"], 1),
            "cold_scoring_s": round(score_s, 1),
            "warm_in_process_s": round(warm_s, 1),
            "warm_cli_s": round(warm_cli_s, 1),
            "requested_tokens": stats["requested_tokens"],
            "forward_tokens": stats["forward_tokens"],
            "generated_tokens": stats["generated_tokens"],
            "sppl_requested_tokens_per_s": round(stats["requested_tokens"] / score_s, 1),
            "sppl_forward_tokens_per_s": round(stats["forward_tokens"] / score_s, 1),
            "plain_forward_tokens_per_s": round(fwd, 1),
            "best": cold.best,
        }
        figures["ratio_requested_to_forward"] = round(figures["sppl_requested_tokens_per_s"] / fwd, 2)
        figures["ratio_actual_to_forward"] = round(figures["sppl_forward_tokens_per_s"] / fwd, 2)
    finally:
        shutil.rmtree(home, ignore_errors=True)

    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json(cold, RESULTS / "select_example_result.json")
    write_atomic(RESULTS / "select_example.json", json.dumps(figures, indent=2) + "\n")
    lines = ["# select --scorer sppl on examples/chain_sum", "", "Produced by `python benchmarks/select_example.py`; one run, one machine.", "",
             "| figure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in figures.items()]
    lines += ["", "requested tokens = context + response tokens of every request, as if each were run alone;",
              "forward tokens = tokens actually run through the model (a shared context once per question, padding included).",
              "The ratios compare SPPL's scoring throughput with a plain (4 x 256) forward pass measured in the same run."]
    write_atomic(RESULTS / "select_example.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "readme_example.py")], check=True)


if __name__ == "__main__":
    main()
