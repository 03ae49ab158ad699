"""Benchmark the LM head on the response tokens only (recipe `head_on_response_only`) against TRL's loss.

    python benchmarks/response_head.py [--target smollm2-135m-instruct --target gemma-3-270m ...]
                                       [--case family_relationships-smollm2] [--strategy self_steps] [--n 32]

TRL's SFT loss runs the LM head over every position on a CPU (over the labelled ones only on a GPU);
the recipe's `head_on_response_only` runs it over the response tokens alone. For each target, one
process fine-tunes it twice on the same batches, as a live-track ground-truth run does (LoRA, the
track's recipe, padding-free, seed 0, one epoch over the first N training examples of a committed
case's strategy), after one untimed warm-up step: first with TRL's loss, then with the head on the
response only. It reports each one's training time, their ratio, and how far apart their per-step
losses are (the same loss summed in another order). The responses are the case target's own; other targets are timed on the same text.
Results go to benchmarks/results/response_head.{json,md}.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
import typer

from stylefit.bench.live.config import case_task_path, load_live_config
from stylefit.data.candidates import load_candidates
from stylefit.data.jsonl import write_atomic
from stylefit.data.task import load_task
from stylefit.training.recipe import Recipe
from stylefit.training.sft import TrainExample, finetune

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
LIVE = REPO / "benchmarks" / "live" / "live.toml"
TARGETS = ["smollm2-135m-instruct", "gemma-3-270m", "qwen2.5-coder-0.5b-instruct"]


def examples_of(case_name: str, strategy: str, n: int) -> list[TrainExample]:
    config = load_live_config(LIVE)
    case = next(c for c in config.cases if c.name == case_name)
    task = load_task(case_task_path(config, case))
    folder = config.path(config.results) / case.name / "candidates"
    candidates = load_candidates(task, [folder / f"{s}.jsonl" for s in case.strategies])  # a set loads whole
    picked = [c for c in candidates.candidates(strategy, candidates.ids) if not c.truncated][:n]
    if len(picked) < n:
        raise SystemExit(f"{case_name}/{strategy}: {len(picked)} untruncated responses, {n} asked")
    return [TrainExample(id=c.id, prompt=c.prompt, response=c.response) for c in picked]


def time_target(target: str, examples: list[TrainExample]) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from stylefit.models.registry import resolve_model

    path = resolve_model(target).path
    tokenizer = AutoTokenizer.from_pretrained(path)
    track = load_live_config(LIVE).recipe | {"epochs": 1, "padding_free": True}
    # one untimed step first: the first variant would otherwise pay the process's one-time costs
    finetune(AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32), tokenizer, examples[:8], Recipe(**track), seed=0)
    runs = {}
    for sparse in (False, True):
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        recipe = Recipe(**track, head_on_response_only=sparse)
        _, outcome = finetune(model, tokenizer, examples, recipe, seed=0, label=f"{target} {'response' if sparse else 'TRL'}")
        runs["response_only" if sparse else "trl"] = outcome
        print(f"{target}: {'head on the response only' if sparse else 'TRL loss'}: {outcome.train_s:.1f} s, "
              f"{outcome.steps} steps", flush=True)
    trl, sparse = runs["trl"], runs["response_only"]
    gaps = [abs(a - b) / abs(a) for (_, a), (_, b) in zip(trl.loss_history, sparse.loss_history)]
    config = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).config.get_text_config()
    return {"target": target, "vocab": config.vocab_size, "hidden": config.hidden_size, "layers": config.num_hidden_layers,
            "steps": trl.steps, "train_tokens": trl.train_tokens, "loss_tokens": trl.loss_tokens,
            "trl_s": round(trl.train_s, 2), "response_only_s": round(sparse.train_s, 2),
            "speedup": round(trl.train_s / sparse.train_s, 3), "max_rel_loss_gap": max(gaps),
            "trl_losses": [l for _, l in trl.loss_history], "response_only_losses": [l for _, l in sparse.loss_history]}


def render(result: dict) -> str:
    lines = [
        "# The LM head on the response tokens only, against TRL's loss (CPU)",
        "",
        f"`python benchmarks/response_head.py`, {result['when']}, {result['threads']} threads, torch {result['torch']}.",
        f"Each target fine-tuned twice in one process on the same {result['n']} examples ({result['case']}, "
        f"strategy {result['strategy']}): the live track's recipe (LoRA, batches of 8), padding-free, seed 0, one epoch. "
        "One timing per variant, TRL's first, after one untimed warm-up step: the ratio is this run's, not a mean.",
        "",
        "| target | vocabulary × hidden | layers | steps | tokens (response) | TRL loss (s) | head on response (s) | speed-up | largest per-step loss gap |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["targets"]:
        share = r["loss_tokens"] / r["train_tokens"]
        lines.append(f"| {r['target']} | {r['vocab']} × {r['hidden']} | {r['layers']} | {r['steps']} | {r['train_tokens']} "
                     f"({share:.0%}) | {r['trl_s']:.1f} | {r['response_only_s']:.1f} | {r['speedup']:.2f}× | {r['max_rel_loss_gap']:.1e} |")
    lines += ["", "The loss gap is relative: the same loss, summed in another order (the head projects fewer rows).", ""]
    return "\n".join(lines)


def main(target: list[str] = typer.Option(TARGETS, "--target"), case: str = "family_relationships-smollm2",
         strategy: str = "self_steps", n: int = 32, threads: int = 2, out: str = "response_head") -> None:
    torch.set_num_threads(threads)
    examples = examples_of(case, strategy, n)
    result = {"when": time.strftime("%Y-%m-%d"), "threads": threads, "torch": torch.__version__, "case": case,
              "strategy": strategy, "n": n, "host_cpus": os.cpu_count(), "targets": [time_target(t, examples) for t in target]}
    write_atomic(RESULTS / f"{out}.json", json.dumps(result, indent=2) + "\n")
    write_atomic(RESULTS / f"{out}.md", render(result))
    print(render(result))


if __name__ == "__main__":
    typer.run(main)
