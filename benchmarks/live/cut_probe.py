"""Would a larger budget have changed a flagged run? Answer its cut answers again with more tokens.

    python benchmarks/live/cut_probe.py simple_equations-smollm2 self_style:seed0 [--factor 4] [--device cpu]

A run is flagged when over 2% of its test answers reach max_new_tokens without being caught in a loop
(``training.summary.cut_flagged``). This fine-tunes the run again exactly as planned (its key is checked
against the committed one), then answers only those questions with ``factor`` times the budget, and
writes ``<case>/cut_probe/<run>.json``: per question, whether the answer now ends, and whether it is
right. It is a diagnostic, not ground truth: on another device than the case's the fine-tune differs
in the last bits, and the file says which device it ran on. The judged bound on what the cut answers
could change needs no probe (``live_track.md``, "cut answers").
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer

from stylefit.bench.live.config import case_task_path, load_live_config
from stylefit.data.candidates import load_candidates
from stylefit.data.jsonl import write_atomic
from stylefit.data.task import load_task
from stylefit.training.evaluate import looping
from stylefit.training.plan import plan_runs
from stylefit.training.recipe import EvalSettings, Recipe
from stylefit.training.runs import RunResult, execute

HERE = Path(__file__).resolve().parent


def main(case_name: str, run: str, factor: int = 4, device: str = "cpu", config_path: Path = HERE / "live.toml") -> None:
    config = load_live_config(config_path)
    case = next((c for c in config.cases if c.name == case_name), None)
    if case is None:
        raise SystemExit(f"{config_path}: no case '{case_name}'")
    folder = config.path(config.results) / case.name
    committed = [RunResult.model_validate_json(f.read_text(encoding="utf-8")) for f in sorted((folder / "runs").glob("*.json"))]
    result = next((r for r in committed if r.strategy and f"{r.strategy}:seed{r.seed}" == run), None)
    if result is None:
        raise SystemExit(f"{folder / 'runs'}: no committed run '{run}'")
    task = load_task(case_task_path(config, case))
    candidates = load_candidates(task, [folder / "candidates" / f"{s}.jsonl" for s in case.strategies])
    recipe = Recipe.model_validate(config.recipe | case.recipe)
    recipe = recipe.model_copy(update={"checkpoint_metric": "strict"}) if "checkpoint_metric" not in recipe.model_fields_set else recipe
    settings = EvalSettings.model_validate(config.eval | case.eval)
    # planned as the case planned it, so that the key proves it is the committed run
    plan = plan_runs(task, candidates, case.target, strategies=[result.strategy], seeds=[result.seed], recipe=recipe,
                     eval_settings=settings, n_train=case.n_train, n_test=case.n_test, base=False, device=case.device or "cpu",
                     dtype=config.dtype, bind_device=case.device is not None)
    spec = plan[0]
    if spec.key() != result.key:
        raise SystemExit(f"{run}: planned again, its key is {spec.key()[:16]}, but the committed run's is {result.key[:16]}: "
                         "the case's settings changed since it ran")
    cut = {i.id for i in result.evaluation.items if i.finish_reason == "length" and not looping(i.output)}
    budget = settings.max_new_tokens * factor
    probe = spec.model_copy(update={"device": device, "test": [q for q in spec.test if q.id in cut],
                                    "eval": settings.model_copy(update={"max_new_tokens": budget}), "checkpoint_every": 0})
    print(f"{case.name} {run}: {len(cut)} answers cut at {settings.max_new_tokens} tokens, not in a loop; "
          f"fine-tuning again on {device} and answering them with {budget}", file=sys.stderr)
    t = time.perf_counter()
    again = execute(probe, progress=lambda what, total, k: print(f"  {what} {k}/{total}", file=sys.stderr) if k in (0, total) else None)
    before = {i.id: i for i in result.evaluation.items}
    items = [{"id": i.id, "gold": i.gold, "tokens": i.n_tokens, "ends": i.finish_reason != "length",
              "looping": i.finish_reason == "length" and looping(i.output), "correct": i.strict_correct,
              "same_start": i.output[:200] == before[i.id].output[:200], "output_tail": i.output[-300:]} for i in again.evaluation.items]
    summary = {"case": case.name, "run": run, "run_key": result.key, "run_device": result.device, "probe_device": again.device,
               "budget": settings.max_new_tokens, "probe_budget": budget, "cut_not_looping": len(cut),
               "end_within_probe_budget": sum(i["ends"] for i in items), "looping_at_probe_budget": sum(i["looping"] for i in items),
               "correct_at_probe_budget": sum(i["correct"] for i in items),
               "same_first_200_characters": sum(i["same_start"] for i in items),
               "seconds": round(time.perf_counter() - t, 1), "items": items}
    out = folder / "cut_probe" / f"{run.replace(':', '-')}.json"
    out.parent.mkdir(exist_ok=True)
    write_atomic(out, json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "items"}), file=sys.stderr)


if __name__ == "__main__":
    typer.run(main)
