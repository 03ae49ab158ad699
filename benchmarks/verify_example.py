"""Benchmark `verify` (the ground truth) on the bundled example with the default model.

    python benchmarks/verify_example.py [--strategy worked_steps --strategy answer_only] [--seeds 0]
                                        [--n-train 200] [--epochs 2] [--n-test 100] [--threads N] [--out NAME]

One run measures, on this machine, with a fresh results store (nothing cached):
  runs      LoRA fine-tuning of SmolLM2-135M-Instruct (rank 8 on q/v) on N examples of each strategy,
            then greedy answers to the test questions, and the base model evaluated the same way;
            where the time goes: loading, training, generation, verification.
  rates     training tokens/s (non-padding prompt + response tokens through forward + backward)
            against a plain forward + backward pass of the same LoRA-wrapped model on dense random
            batches of the training batches' shape, measured in the same process just before and
            just after the grid (their mean is the reference).
Results go to benchmarks/results/<out>.{json,md}. Target: one fine-tune + evaluation run < 900 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "chain_sum"
RESULTS = REPO / "benchmarks" / "results"
TARGET_S = 900


def train_step_rate(model_name: str, recipe, batch: int, length: int, repeats: int = 3) -> tuple[float, float]:
    """Tokens/s of forward + backward (loss on every position) and of a forward pass alone, on the
    target wrapped with the recipe's LoRA adapters, over dense random (batch x length) tokens."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from stylefit.models import resolve_model

    model = AutoModelForCausalLM.from_pretrained(resolve_model(model_name).path, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=recipe.lora_rank, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
                                             target_modules=list(recipe.target_modules), task_type="CAUSAL_LM"))
    x = torch.randint(0, model.config.vocab_size, (batch, length))
    model.train()
    model(input_ids=x[:, :16], labels=x[:, :16]).loss.backward()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        model(input_ids=x, labels=x).loss.backward()
        times.append(time.perf_counter() - t)
    forward = []
    with torch.inference_mode():
        model.eval()
        for _ in range(repeats):
            t = time.perf_counter()
            model(input_ids=x)
            forward.append(time.perf_counter() - t)
    return batch * length / statistics.median(times), batch * length / statistics.median(forward)


def mean_example_tokens(model_name: str, strategies: list[str], n_train: int) -> int:
    """Mean length in tokens of the training sequences (chat-templated prompt + response)."""
    from transformers import AutoTokenizer

    from stylefit.data import load_candidates, load_task
    from stylefit.models import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(model_name).path)
    candidates = load_candidates(load_task(EXAMPLE), EXAMPLE / "candidates")
    lengths = [len(tokenizer.apply_chat_template([{"role": "user", "content": c.prompt}, {"role": "assistant", "content": c.response}],
                                                 tokenize=True, return_dict=True)["input_ids"])
               for s in strategies for c in candidates.candidates(s, candidates.ids[:n_train])]
    return round(statistics.mean(lengths))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--strategy", action="append", help="strategies to fine-tune on (default: worked_steps, answer_only)")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--n-train", type=int, default=200)
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--out", default="verify_example", help="results file name (without extension)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own, one per core); on a machine "
                        "shared with another CPU-heavy job, 1 avoids OpenMP threads spinning against it")
    parser.add_argument("--compare", metavar="JSON", help="recipe fields of a new recipe, e.g. '{\"padding_free\": true}': run "
                        "the grid with the old recipe and then the new one, each with a fresh store, and write "
                        "<out>_compare.{json,md}: time and accuracy per run side by side, and how many answers agree")
    parser.add_argument("--base", metavar="JSON", default="{}", help="recipe fields of the old recipe too (with --compare), "
                        "e.g. '{\"padding_free\": true}' to measure a change on top of it")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    strategies = args.strategy or ["worked_steps", "answer_only"]
    seeds = [int(s) for s in args.seeds.split(",")]

    from stylefit.data.jsonl import write_atomic
    from stylefit.models.registry import DEFAULT_MODEL
    from stylefit.training import Recipe, verify

    recipe = Recipe(**{"epochs": args.epochs} | json.loads(args.base))
    progress_seen: set[str] = set()
    if args.compare:
        return compare(Recipe, recipe, json.loads(args.compare), strategies, seeds, args)

    def progress(stage: str, total: int, advance: int) -> None:
        if stage not in progress_seen:
            progress_seen.add(stage)
            log(f"{stage}: {total} to do")

    # The rate reference runs before and after the grid (the machine's load may drift meanwhile), on
    # batches shaped like the training batches: batch size x the examples' mean length in tokens.
    length = mean_example_tokens(DEFAULT_MODEL, strategies, args.n_train)
    log(f"measuring forward + backward on ({recipe.batch_size} x {length}) tokens")
    fwd_bwd_before, fwd_before = train_step_rate(DEFAULT_MODEL, recipe, recipe.batch_size, length)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="stylefit-bench-") as tmp:
        t0 = time.perf_counter()
        result = verify(EXAMPLE, EXAMPLE / "candidates", targets=DEFAULT_MODEL, strategies=strategies, seeds=seeds,
                        recipe=recipe, n_train=args.n_train, n_test=args.n_test, store=Path(tmp) / "store.sqlite", progress=progress)
        grid_s = time.perf_counter() - t0
    assert result.computed == len(result.runs), "the store was fresh: every run must have been computed"
    log(f"grid done in {grid_s:.0f}s; measuring forward + backward again")

    trained = [r for r in result.runs if r.training]
    fwd_bwd_after, fwd_after = train_step_rate(DEFAULT_MODEL, recipe, recipe.batch_size, length)
    fwd_bwd, fwd = (fwd_bwd_before + fwd_bwd_after) / 2, (fwd_before + fwd_after) / 2

    case = result.cases[0]
    runs = []
    for r in result.runs:
        row = {"run": r.label.split(":", 1)[1], "total_s": round(r.timings["total_s"], 1), "load_s": round(r.timings["load_s"], 1),
               "generation_s": round(r.evaluation.generation_s, 1), "verification_s": round(r.evaluation.verification_s, 2),
               "generated_tokens": r.evaluation.generated_tokens,
               "generation_tokens_per_s": round(r.evaluation.generated_tokens / r.evaluation.generation_s, 1),
               "hit_length_limit": r.evaluation.hit_length_limit,
               "accuracy_strict": r.evaluation.accuracy_strict, "accuracy_flexible": r.evaluation.accuracy_flexible}
        if r.training:
            t = r.training
            row |= {"train_s": round(t.train_s, 1), "steps": t.steps, "train_tokens": t.train_tokens, "loss_tokens": t.loss_tokens,
                    "train_tokens_per_s": round(t.train_tokens / t.train_s, 1),
                    "first_loss": round(t.loss_history[0][1], 3), "last_loss": round(t.loss_history[-1][1], 3)}
        runs.append(row)
    finetune_runs = [row for row in runs if "train_s" in row]
    figures = {
        "machine": f"{os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "model": DEFAULT_MODEL,
        "recipe": f"LoRA r={recipe.lora_rank} alpha={recipe.lora_alpha} on {','.join(recipe.target_modules)}, lr {recipe.learning_rate:g} "
                  f"{recipe.lr_scheduler}, {recipe.epochs:g} epochs, batch {recipe.batch_size}, fp32",
        "n_train": args.n_train, "n_test": args.n_test, "strategies": strategies, "seeds": seeds,
        "grid_total_s": round(grid_s, 1),
        "slowest_finetune_run_s": max(row["total_s"] for row in finetune_runs),
        "within_target": max(row["total_s"] for row in finetune_runs) < TARGET_S,
        "time_split_s": {
            "load": round(sum(row["load_s"] for row in runs), 1),
            "training": round(sum(row.get("train_s", 0) for row in runs), 1),
            "generation": round(sum(row["generation_s"] for row in runs), 1),
            "verification": round(sum(row["verification_s"] for row in runs), 2),
        },
        "train_tokens_per_s": round(sum(r.training.train_tokens for r in trained) / sum(r.training.train_s for r in trained), 1),
        "fwd_bwd_tokens_per_s": round(fwd_bwd, 1),
        "fwd_bwd_before_after": [round(fwd_bwd_before, 1), round(fwd_bwd_after, 1)],
        "forward_tokens_per_s": round(fwd, 1),
        "fwd_bwd_batch": [recipe.batch_size, length],
        "runs": runs,
        "ranking": case.ranking,
        "base_accuracy_strict": case.base.strict if case.base else None,
        "noise_floor_run_sd": round(case.noise.run_sd, 4),
    }
    figures["ratio_train_to_fwd_bwd"] = round(figures["train_tokens_per_s"] / fwd_bwd, 2)

    RESULTS.mkdir(parents=True, exist_ok=True)
    write_atomic(RESULTS / f"{args.out}.json", json.dumps(figures, indent=2) + "\n")
    lines = [
        "# verify on examples/chain_sum", "",
        f"Produced by `python benchmarks/verify_example.py{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}`; one run, one machine, a fresh results store.", "",
        "| figure | value |", "|---|---|",
        *[f"| {k} | {v} |" for k, v in figures.items() if k not in ("runs", "time_split_s")],
        *[f"| time: {k} (all runs) | {v} s |" for k, v in figures["time_split_s"].items()], "",
        "| run | total s | train s | generation s | verification s | train tok/s | generated tokens | cut at limit | first → last loss | strict | flexible |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *[f"| {r['run']} | {r['total_s']} | {r.get('train_s', '-')} | {r['generation_s']} | {r['verification_s']} | "
          f"{r.get('train_tokens_per_s', '-')} | {r['generated_tokens']} | {r['hit_length_limit']} | "
          f"{str(r['first_loss']) + ' → ' + str(r['last_loss']) if 'first_loss' in r else '-'} | "
          f"{100 * r['accuracy_strict']:.0f}% | {100 * r['accuracy_flexible']:.0f}% |" for r in runs], "",
        "train tok/s = non-padding prompt + response tokens through forward + backward per second of the training loop",
        "(TRL's fused LM head projects every position on a CPU, the response positions only on a GPU); fwd_bwd = the same",
        "LoRA-wrapped model on dense random batches of the same shape with the loss on every position, and forward",
        "alone for reference. Accuracies are single runs on n test questions: see the noise floor before comparing them.",
    ]
    write_atomic(RESULTS / f"{args.out}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def compare(recipe_class, old, changes: dict, strategies: list[str], seeds: list[int], args) -> None:
    """The old and the new recipe's grids in one process, one after the other, each in a fresh store: per run
    the time (total and training) and the strict accuracy, and how many of its answers are the same text."""
    from stylefit.data.jsonl import write_atomic
    from stylefit.models.registry import DEFAULT_MODEL
    from stylefit.training import verify

    new = recipe_class.model_validate(old.model_dump() | changes)
    grids = {}
    for name, recipe in (("old", old), ("new", new)):
        log(f"{name} recipe: {recipe.model_dump(mode='json')}")
        with tempfile.TemporaryDirectory(prefix="stylefit-bench-") as tmp:
            t0 = time.perf_counter()
            result = verify(EXAMPLE, EXAMPLE / "candidates", targets=DEFAULT_MODEL, strategies=strategies, seeds=seeds, recipe=recipe,
                            n_train=args.n_train, n_test=args.n_test, base=False, store=Path(tmp) / "store.sqlite",
                            progress=lambda stage, total, k: None)
            grids[name] = (result, time.perf_counter() - t0)
        assert result.computed == len(result.runs), "the store was fresh: every run must have been computed"
        log(f"{name} grid done in {grids[name][1]:.0f}s")
    rows = []
    for before, after in zip(grids["old"][0].runs, grids["new"][0].runs):
        assert before.label == after.label
        same = sum(a.output == b.output for a, b in zip(before.evaluation.items, after.evaluation.items))
        rows.append({"run": before.label.split(":", 1)[1], "old_total_s": round(before.timings["total_s"], 1),
                     "new_total_s": round(after.timings["total_s"], 1),
                     "speedup": round(before.timings["total_s"] / after.timings["total_s"], 2),
                     "old_train_s": round(before.training.train_s, 1), "new_train_s": round(after.training.train_s, 1),
                     "train_speedup": round(before.training.train_s / after.training.train_s, 2),
                     "old_strict": before.evaluation.accuracy_strict, "new_strict": after.evaluation.accuracy_strict,
                     "same_answers": same, "n_test": before.evaluation.n,
                     "old_last_loss": round(before.training.loss_history[-1][1], 4), "new_last_loss": round(after.training.loss_history[-1][1], 4)})
    noise = grids["old"][0].cases[0].noise.run_sd
    figures = {"machine": f"{os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads",
               "model": DEFAULT_MODEL, "old_recipe": old.model_dump(mode="json"), "changes": changes,
               "n_train": args.n_train, "n_test": args.n_test, "strategies": strategies, "seeds": seeds,
               "old_grid_s": round(grids["old"][1], 1), "new_grid_s": round(grids["new"][1], 1),
               "grid_speedup": round(grids["old"][1] / grids["new"][1], 2), "old_noise_floor_run_sd": round(noise, 4), "runs": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = f"{args.out}_compare"
    write_atomic(RESULTS / f"{out}.json", json.dumps(figures, indent=2) + "\n")
    base = {k: v for k, v in old.model_dump(mode="json").items() if k in json.loads(args.base)}
    lines = [f"# verify on examples/chain_sum: the old recipe{' ' + json.dumps(base) if base else ''} and {json.dumps(changes)} on top, side by side", "",
             f"Produced by `python benchmarks/verify_example.py {' '.join(sys.argv[1:])}`; one process, one machine, each grid "
             f"in a fresh store, the old first. {figures['machine']}; {DEFAULT_MODEL}; n_train {args.n_train}, n_test {args.n_test}, "
             f"seeds {seeds}. The base model is not run (no fine-tune: the recipe does not touch it).", "",
             f"Grid: {figures['old_grid_s']} s → {figures['new_grid_s']} s, **{figures['grid_speedup']}x**.", "",
             "| run | total s (old → new) | speedup | train s (old → new) | train speedup | strict (old → new) | same answers | last loss (old → new) |",
             "|---|---|---|---|---|---|---|---|",
             *[f"| {r['run']} | {r['old_total_s']} → {r['new_total_s']} | {r['speedup']}x | {r['old_train_s']} → {r['new_train_s']} | "
               f"{r['train_speedup']}x | {100 * r['old_strict']:.0f}% → {100 * r['new_strict']:.0f}% | {r['same_answers']}/{r['n_test']} | "
               f"{r['old_last_loss']} → {r['new_last_loss']} |" for r in rows], "",
             f"One run of the old recipe strays by sd {100 * noise:.1f} points (its noise floor: seed sd and test items).", ""]
    write_atomic(RESULTS / f"{out}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
