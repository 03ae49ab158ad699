"""Scoring throughput: stylefit's log-likelihood engine against the usual ways of computing the same numbers.

    python benchmarks/scoring_throughput.py [--n 50] [--device cpu|cuda] [--dtype float32|bfloat16]
    (needs lm-eval for row (b): pip install -e ".[bench]")

The requests: SPPL prompts (question + 3 of the target's own correct answers, native chat
template) for K = 8 strategies x N = 50 questions of the live track's chain_sum case, with the
default target. Each method runs in a fresh process on the same requests (so each has its own
peak memory), one after the other:

  (a) naive    one forward pass per (prompt, response), full logits, as the SPPL authors' code does
  (b) lm-eval  lm-evaluation-harness's Hugging Face backend (HFLM.loglikelihood), batch size 8
  (c) stylefit TransformersLM.loglikelihood

Reported: scored (response) tokens/s, wall time, speed-up of (c) over (a) and (b), peak resident
memory, agreement with (a) (mean NLL per request; (b) reports only sums), and (c)'s achieved
FLOP rate against this machine's fp32 matmul peak measured in the same run. Results go to
benchmarks/results/scoring_throughput.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from stylefit.data.jsonl import write_atomic

REPO = Path(__file__).resolve().parents[1]
CASE = REPO / "benchmarks" / "results" / "live" / "chain_sum-smollm2"
TASK = REPO / "benchmarks" / "live" / "tasks" / "chain_sum"
RESULTS = REPO / "benchmarks" / "results"
METHODS = ("naive", "lm-eval", "stylefit")


def requests(lm, n: int):
    """The SPPL (context, response) pairs of K strategies x n questions, exactly as `select` builds them."""
    from stylefit.data import load_candidates, load_task
    from stylefit.scoring import ScoringItem, get_scorer
    from stylefit.core.store import Store

    task = load_task(TASK)
    candidates = load_candidates(task, CASE / "candidates")
    ids = candidates.ids[:n]
    scorer = get_scorer("sppl")
    scorer.prepare(lm, candidates, ids, Store(None))  # the target's own answers: cached, not timed
    return [r for qid in ids for s in candidates.strategies
            for r in scorer.requests(lm, ScoringItem(candidates.by_strategy[s][qid], candidates.position(qid)))]


def naive(lm, reqs) -> list[list[float]]:
    import torch

    out = []
    with torch.inference_mode():
        for r in reqs:
            context, continuation = lm._split(r)
            ids = torch.tensor([context + continuation], device=lm.device)
            logprobs = torch.log_softmax(lm.model(ids).logits[0].float(), dim=-1)
            out.append([float(logprobs[len(context) + i - 1, t]) for i, t in enumerate(continuation)])
    return out


def lm_eval(lm, reqs) -> list[float]:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    harness = HFLM(pretrained=lm.model, tokenizer=lm.tokenizer, batch_size=8, device=str(lm.device))
    instances = [Instance(request_type="loglikelihood", doc={}, arguments=(r.context, r.continuation), idx=i)
                 for i, r in enumerate(reqs)]
    return [logprob for logprob, _ in harness.loglikelihood(instances, disable_tqdm=True)]


def matmul_peak(device, dtype, size: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of a square matmul, the best of ``repeats``."""
    import torch

    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(repeats + 1):
        t = time.perf_counter()
        (a @ b).sum().item()
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best / 1e9


def run_one(method: str, n: int, device: str, dtype: str) -> dict:
    import torch

    from stylefit.models import load_model
    from stylefit.models.registry import DEFAULT_MODEL

    lm = load_model(DEFAULT_MODEL, device=device, dtype=dtype)
    reqs = requests(lm, n)
    scored = sum(len(lm._split(r)[1]) for r in reqs)
    requested = sum(len(c) + len(x) for c, x in map(lm._split, reqs))
    before = dict(lm.stats)
    t = time.perf_counter()
    if method == "naive":
        per_token = naive(lm, reqs)
        sums = [sum(x) for x in per_token]
        means = [-s / len(x) for s, x in zip(sums, per_token)]
    elif method == "lm-eval":
        sums, means = lm_eval(lm, reqs), None
    else:
        scores = lm.loglikelihood(reqs)
        sums, means = [sum(s.token_logprobs) for s in scores], [s.mean_nll for s in scores]
    seconds = time.perf_counter() - t
    result = {"method": method, "requests": len(reqs), "scored_tokens": scored, "requested_tokens": requested,
              "seconds": round(seconds, 2), "scored_tokens_per_s": round(scored / seconds, 1),
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
              "sums": sums, "means": means, "threads": torch.get_num_threads()}
    if method == "stylefit":
        forward = lm.stats["forward_tokens"] - before["forward_tokens"]
        config = lm.model.config
        body = sum(p.numel() for p in lm.model.parameters()) - config.vocab_size * config.hidden_size
        # Attention's score and mix matmuls: 4 x position x width per layer for each token run, with
        # each context run once and each continuation after its context (as stylefit computes them).
        split = [lm._split(r) for r in reqs]
        positions = sum(len(c) * (len(c) - 1) // 2 for c in {tuple(c) for c, _ in split})
        positions += sum(len(c) + j for c, x in split for j in range(len(x)))
        attention = 4 * config.num_attention_heads * (config.hidden_size // config.num_attention_heads) * config.num_hidden_layers * positions
        # 2 FLOPs per weight per token through the body, the head at every scored position, attention
        flops = 2 * body * forward + 2 * config.vocab_size * config.hidden_size * scored + attention
        peak = matmul_peak(lm.device, getattr(torch, lm.dtype))
        result |= {"forward_tokens": forward, "achieved_gflops": round(flops / seconds / 1e9, 1),
                   "matmul_peak_gflops": round(peak, 1), "fraction_of_peak": round(flops / seconds / 1e9 / peak, 3)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--method", choices=METHODS)
    parser.add_argument("--methods", default=",".join(METHODS))
    args = parser.parse_args()
    if args.method:  # a child process: one method, JSON on stdout's last line
        print(json.dumps(run_one(args.method, args.n, args.device, args.dtype)))
        return
    rows = {}
    for method in args.methods.split(","):
        print(f"running {method}...", flush=True)
        done = subprocess.run([sys.executable, __file__, "--method", method, "--n", str(args.n), "--device", args.device,
                               "--dtype", args.dtype], capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{method} failed:\n{done.stderr[-3000:]}")
        rows[method] = json.loads(done.stdout.strip().splitlines()[-1])
    report(rows, args)


def report(rows: dict, args) -> None:
    import torch

    ours, ref = rows["stylefit"], rows.get("naive")
    agreement = {}
    if ref:
        diffs = [abs(a - b) for a, b in zip(ours["means"], ref["means"])]
        agreement["max_abs_mean_nll_diff_vs_naive"] = max(diffs)
    if "lm-eval" in rows:
        agreement["max_abs_sum_logprob_diff_lm_eval_vs_stylefit"] = max(abs(a - b) for a, b in zip(rows["lm-eval"]["sums"], ours["sums"]))
    speedups = {f"stylefit_vs_{m}": round(rows[m]["seconds"] / ours["seconds"], 2) for m in rows if m != "stylefit"}
    machine = {"python": platform.python_version(), "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
               "device": args.device, "dtype": args.dtype, "threads": ours["threads"]}
    try:
        import lm_eval
        import transformers

        machine |= {"transformers": transformers.__version__, "lm_eval": lm_eval.__version__}
    except ImportError:
        pass
    out = {"n_questions": args.n, "strategies": 8, "requests": ours["requests"], "machine": machine, "speedups": speedups,
           "agreement": agreement, "rows": {m: {k: v for k, v in r.items() if k not in ("sums", "means")} for m, r in rows.items()}}
    write_atomic(RESULTS / "scoring_throughput.json", json.dumps(out, indent=2) + "\n")
    lines = ["# Scoring throughput: SPPL log-likelihoods, K = 8 strategies x N = {} questions".format(args.n), "",
             "Produced by `python benchmarks/scoring_throughput.py`; one run, each method in its own process, "
             f"one machine ({machine['cpu']}, {machine['threads']} threads, torch {machine['torch']}, {args.device}, {args.dtype}).", "",
             "| method | wall s | scored tokens/s | peak RSS (MB) |", "|---|---|---|---|"]
    for m, r in rows.items():
        lines.append(f"| {m} | {r['seconds']} | {r['scored_tokens_per_s']} | {r['peak_rss_mb']} |")
    lines += ["", "Speed-ups of stylefit: " + ", ".join(f"{k.removeprefix('stylefit_vs_')} {v}x" for k, v in speedups.items()) + ".",
              f"Agreement: {json.dumps(agreement)}.",
              f"stylefit ran {ours['forward_tokens']} tokens through the model for {ours['requested_tokens']} requested "
              f"({ours['scored_tokens']} scored): {ours['achieved_gflops']} GFLOP/s achieved, "
              f"{100 * ours['fraction_of_peak']:.0f}% of this machine's fp32 matmul peak ({ours['matmul_peak_gflops']} GFLOP/s, "
              "same run)."]
    write_atomic(RESULTS / "scoring_throughput.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
