"""Issue 24: the adaptive selector judged on the live track, beside the selectors the track committed.

    python benchmarks/adaptive_live.py [--case NAME ...] [--budget-steps N ...] [--workers N]

For each case whose ground truth is complete, this runs the adaptive selector with its
pre-registered settings (the track's recipe, dtype and n_select), once without a budget and once
per --budget-steps (the curve of quality against budget). Its fine-tunes are committed under
<case>/adaptive_runs/, so a rerun, or a larger budget, costs only what is new. Its preference
(its order) is judged against the committed ground truth as the track judges every selector,
and so are the committed scores of proxy-paper, proxy, sppl and ppl. Its fine-tune steps are
compared with proxy-paper's committed runs: steps do not depend on the device.

Writes benchmarks/results/adaptive.{md,json}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from stylefit.bench.live.track import CommittedRuns, case_truth, load_live_config
from stylefit.data.jsonl import write_atomic
from stylefit.data.task import load_task
from stylefit.selection.adaptive import select_adaptive
from stylefit.selection.quality import evaluate

ROOT = Path(__file__).resolve().parent
BESIDE = ("proxy-paper", "proxy", "sppl", "ppl")


def judge_case(config, case, budgets: list[int], workers: int, overrides: dict) -> dict | str:
    """The case's row, or why it cannot be judged."""
    truth, *_ = case_truth(config, case)
    if truth is None:
        return "ground truth incomplete"
    folder = config.path(config.results) / case.name
    accuracy = {s.strategy: s.mean for s in truth.strategies}
    acc = np.array([accuracy[s] for s in case.strategies])
    if np.ptp(acc) == 0:
        return "every strategy has the same accuracy"
    task = load_task(folder / "task" if (folder / "task" / "task.json").is_file() else config.path(case.task))
    files = [folder / "candidates" / f"{s}.jsonl" for s in case.strategies]
    recipe = {k: v for k, v in (config.recipe | case.recipe).items() if k != "epochs"}  # each round sets its epochs
    row = {"case": case.name, "accuracy": accuracy, "best": max(accuracy, key=accuracy.get), "runs": []}
    for budget in [0, *budgets]:
        result = select_adaptive(task, files, target=case.target, settings={"dtype": config.dtype, "recipe": recipe} | overrides | {"budget_steps": budget},
                                 n=config.n_select, store=CommittedRuns(None, folder / "adaptive_runs"), workers=workers)
        preference = np.array([result.preference[s] for s in case.strategies])
        row["runs"].append({"budget_steps": budget, "outcome": vars(evaluate(preference, acc)), "pick": result.best,
                            "tied_best": result.tied_best, "stopped": result.stopped, "steps": result.cost.steps,
                            "seconds": round(result.cost.seconds, 1), "stages": [
                                {"name": s.name, "kept": s.kept, "dropped": s.dropped, "notes": s.notes, "steps": s.cost.steps}
                                for s in result.stages]})
    for name in BESIDE:
        file = folder / "scores" / f"{name}.json"
        if file.is_file():
            data = json.loads(file.read_text(encoding="utf-8"))
            sign = 1.0 if data["higher_is_better"] else -1.0
            row[name] = vars(evaluate(sign * np.array([data["means"][s] for s in case.strategies]), acc))
    paper_runs = [json.loads(f.read_text(encoding="utf-8")) for f in (folder / "proxy_runs").glob("*.json")]
    row["proxy_paper_steps"] = sum(r["training"]["steps"] for r in paper_runs if r["strategy"] in case.strategies) or None
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "live" / "live.toml")
    parser.add_argument("--case", action="append", help="only these cases (default: every case with complete ground truth)")
    parser.add_argument("--budget-steps", type=int, action="append", default=[], help="also run with this step budget")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--settings", type=json.loads, default={}, help="JSON over the pre-registered settings (then not them)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "adaptive")
    args = parser.parse_args()
    config = load_live_config(args.config)
    rows = []
    for case in config.cases:
        if args.case and case.name not in args.case:
            continue
        row = judge_case(config, case, sorted(args.budget_steps), args.workers, args.settings)
        print(f"{case.name}: {'judged' if isinstance(row, dict) else f'not judged ({row})'}", flush=True)
        if isinstance(row, dict):
            rows.append(row)
    write_atomic(args.out.with_suffix(".json"), json.dumps(rows, indent=1) + "\n")
    lines = ["# The adaptive selector on the live track (issue 24)", "",
             "Produced by `python benchmarks/adaptive_live.py`: its pre-registered settings "
             "(`benchmarks/adaptive/preregistration.toml`), judged on each case whose ground truth is complete, beside the "
             "track's committed selectors. Regret in accuracy points; steps are fine-tune optimizer steps."
             + (f" NOT the pre-registered settings: {json.dumps(args.settings)} over them." if args.settings else ""), "",
             "| case | budget (steps) | pick | true best | regret | ρ | steps | proxy-paper's steps | stopped |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for run in row["runs"]:
            o = run["outcome"]
            lines.append(f"| {row['case']} | {run['budget_steps'] or 'none'} | {run['pick'] or ' = '.join(run['tied_best'])} | "
                         f"{row['best']} | {o['regret_points']:.1f} | {o['spearman']:.2f} | {run['steps']} | "
                         f"{row['proxy_paper_steps'] or '-'} | {run['stopped']} |")
    lines += ["", "Beside it, from the committed scores (regret, ρ):", "", "| case | " + " | ".join(BESIDE) + " |",
              "|---|" + "---|" * len(BESIDE)]
    for row in rows:
        cells = [f"{row[n]['regret_points']:.1f}, {row[n]['spearman']:.2f}" if n in row else "-" for n in BESIDE]
        lines.append(f"| {row['case']} | " + " | ".join(cells) + " |")
    lines += ["", "## Stages", ""]
    for row in rows:
        for stage in row["runs"][0]["stages"]:
            dropped = "; ".join(f"{s}: {why}" for s, why in stage["dropped"].items()) or "none"
            lines.append(f"- {row['case']}, {stage['name']}: kept {', '.join(stage['kept'])}; dropped {dropped}")
            lines += [f"  - {note}" for note in stage["notes"] if note.startswith("regime")]
    write_atomic(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    print(f"wrote {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
