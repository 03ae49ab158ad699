"""Generation throughput: the transformers backend against llama.cpp's server, same prompts, one run.

    python benchmarks/generate_throughput.py [--n 100] [--max-new-tokens 128]

Both generate greedily for the same N chat prompts (the bundled example's first training questions)
with SmolLM2-135M-Instruct: the transformers backend in this process (the GGUF de-quantized to
fp32, batched, finished rows leave the batch) and llama.cpp's OpenAI-compatible server on loopback
(the Q4_1 GGUF as shipped, requests 4 at a time). Both use all of this machine's cores, one after
the other. Results: benchmarks/results/generate_throughput.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from stylefit.data.jsonl import write_atomic

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "chain_sum"
RESULTS = REPO / "benchmarks" / "results"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="stylefit-bench-"))
    os.environ["STYLEFIT_HOME"] = str(home)
    from stylefit.data import load_task
    from stylefit.models import GenerationSpec, load_model
    from stylefit.models.llama_server import start_llama_server
    from stylefit.models.openai_lm import OpenAICompatibleLM
    from stylefit.models.registry import DEFAULT_MODEL, REGISTRY, _gguf_file

    task = load_task(EXAMPLE)
    questions = [task.prompt(q) for q in task.train[: args.n]]
    spec = GenerationSpec(max_new_tokens=args.max_new_tokens)
    rows = {}
    try:
        lm = load_model(DEFAULT_MODEL)
        prompts = [lm.render_chat(q) for q in questions]
        lm.generate(prompts[:2], GenerationSpec(max_new_tokens=4))  # warm-up
        t = time.perf_counter()
        local = lm.generate(prompts, spec, batch_size=64)
        seconds = time.perf_counter() - t
        rows["transformers"] = {"seconds": round(seconds, 1), "tokens": sum(g.n_tokens for g in local),
                                "detail": f"fp32 (de-quantized), batch 64, {torch.get_num_threads()} torch threads"}
        del lm

        threads = os.cpu_count() or 1
        # The server as users run it (prompts read in batches); served_reproducibility.py measures the
        # token-by-token setting the tests use.
        url, proc = start_llama_server(_gguf_file(REGISTRY[DEFAULT_MODEL]), home / "server.log", alias="smollm2", threads=threads,
                                       reproducible=False)
        try:
            server = OpenAICompatibleLM(url, "smollm2", concurrency=4)
            server.generate(questions[:2], GenerationSpec(max_new_tokens=4))  # warm-up
            t = time.perf_counter()
            served = server.generate(questions, spec)
            seconds = time.perf_counter() - t
            rows["llama.cpp server"] = {"seconds": round(seconds, 1), "tokens": sum(g.n_tokens for g in served),
                                        "detail": f"Q4_1 GGUF, {threads} threads, 4 concurrent requests, "
                                                  f"{server.server_stats.retries} retries"}
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    for row in rows.values():
        row["tokens_per_s"] = round(row["tokens"] / row["seconds"], 1)
        row["mean_tokens_per_answer"] = round(row["tokens"] / args.n, 1)
    ratio = round(rows["llama.cpp server"]["tokens_per_s"] / rows["transformers"]["tokens_per_s"], 2)
    figures = {"machine": f"{os.cpu_count()} CPUs, torch {torch.__version__}", "model": DEFAULT_MODEL, "prompts": args.n,
               "max_new_tokens": args.max_new_tokens, "backends": rows, "ratio_server_to_transformers": ratio}
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_atomic(RESULTS / "generate_throughput.json", json.dumps(figures, indent=2) + "\n")
    lines = [f"# Generation throughput: {args.n} greedy chat prompts, {DEFAULT_MODEL}, up to {args.max_new_tokens} new tokens", "",
             "Produced by `python benchmarks/generate_throughput.py`; one run, one machine, both backends in the same run.", "",
             "| backend | seconds | generated tokens | tokens per answer | tokens/s | setup |", "|---|---|---|---|---|---|"]
    lines += [f"| {name} | {r['seconds']} | {r['tokens']} | {r['mean_tokens_per_answer']} | {r['tokens_per_s']} | {r['detail']} |"
              for name, r in rows.items()]
    lines += ["", f"llama.cpp server / transformers: **{ratio}x** tokens/s. The two do not write the same tokens: the",
              "server runs the 4-bit weights as shipped, the transformers backend their fp32 de-quantization, so",
              "answers and their lengths differ; tokens/s is the comparable figure. Where answers are short, reading",
              "the prompts weighs on tokens/s as much as writing the answers does."]
    write_atomic(RESULTS / "generate_throughput.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
