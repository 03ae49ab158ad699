"""Issue 24: the adaptive selector judged on the live track, beside the selectors the track committed.

    python benchmarks/adaptive_live.py [--case NAME ...] [--budget-steps N ...] [--workers N] [--judge-only]

For each case whose ground truth is complete, this runs the adaptive selector with its
pre-registered settings (the track's recipe, dtype and n_select) on the case's bound device, once
without a budget and once per --budget-steps (the curve of quality against budget; 16, 32 and 64
steps unless given, so that judging alone never drops the curve). Its results are
committed as <case>/adaptive/budget-<N>.json and its fine-tunes under <case>/adaptive_runs/, so a
judge reads them back and a larger budget costs only what is new; --run-only runs and commits
without judging (on the GPU machine, beside the ground truth). Its preference
(its order) is judged against the committed ground truth as the track judges every selector,
and so are the committed scores of proxy-paper, proxy, sppl and ppl. Its fine-tune steps are
compared with proxy-paper's committed runs: steps do not depend on the device. Its seconds are
compared with proxy-paper's where both ran on one kind of device: steps leave out answering the
validation questions, which on a CPU takes most of a proxy's time. --judge-only runs nothing: a case
whose results are not all committed is listed as not judged.

Writes benchmarks/results/adaptive.{md,json}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from stylefit.bench.live.config import load_live_config
from stylefit.bench.live.runs import latest_runs
from stylefit.bench.live.selectors import OtherSettings, adaptive_result, questions_used
from stylefit.bench.live.truth import case_truth
from stylefit.core.errors import StylefitError, TooFewQuestions
from stylefit.data.jsonl import write_atomic
from stylefit.selection.adaptive import steps_per_run
from stylefit.selection.quality import (CaseOutcome, accuracy_spread, difference, evaluate, format_interval, summarize_many,
                                        win_tie_loss)
from stylefit.training.recipe import Recipe

ROOT = Path(__file__).resolve().parent
BESIDE = ("proxy-paper", "proxy", "sppl", "ppl")
CURVE_BUDGETS = (16, 32, 64)  # the budget curve's steps when none is given (cpu_season.sh runs these)


def run_case(config, case, budgets: list[int], workers: int, overrides: dict, cache: Path | None, rerun: bool,
             device: str | None = None, judge_only: bool = False) -> list[dict]:
    """The adaptive selector on the case, once without a budget and once per budget, each read back
    from its committed result or run and committed (``stylefit.bench.live.selectors.adaptive_result``);
    ``judge_only``: read back only, and a result not committed is an error."""
    results = []
    for budget in [0, *budgets]:
        def made(data, budget=budget):
            print(f"{case.name}, budget {budget or 'none'}: {data['best'] or data['tied_best']}, "
                  f"{data['cost']['steps']} steps, {data['cost']['seconds']:.0f} s ({data['stopped']})", flush=True)

        try:
            results.append(adaptive_result(config, case, budget, overrides, cache=cache, workers=workers, device=device,
                                           rerun=rerun, run=not judge_only, on_made=made))
        except OtherSettings as e:  # never judged as these settings, nor passed over: the run stops
            raise SystemExit(f"error: {e}") from None
    return results


def proxy_paper_cost(folder: Path, strategies: list[str], name: str) -> tuple[int | None, float | None, str | None]:
    """proxy-paper's fine-tune steps on the case (each strategy's latest committed run: runs of earlier
    candidate sets stay in the folder), its committed seconds and the devices they were spent on
    (``name``: the track's paper_proxy selector); none where it refused the case."""
    score = folder / "scores" / f"{name}.json"
    data = json.loads(score.read_text(encoding="utf-8")) if score.is_file() else {}
    if "refused" in data:
        return None, None, None
    runs = latest_runs(folder / "proxy_runs", strategies)
    steps = sum(run["training"]["steps"] for run in runs.values()) if len(runs) == len(strategies) else None
    return steps, data.get("seconds"), data.get("device")


def seconds_share(run: dict, row: dict) -> float | None:
    """The adaptive selector's seconds as a share of proxy-paper's on the case, where both ran on one
    and the same kind of device (None otherwise: a GPU's seconds and a CPU's do not compare)."""
    same = run["device"] == row.get("proxy_paper_device") and " and " not in run["device"]
    return run["seconds"] / row["proxy_paper_seconds"] if same and row.get("proxy_paper_seconds") else None


def proxy_on_all_steps(result: dict, strategies: int) -> int:
    """The steps the last proxy round would take on every strategy: its runs' own steps per strategy, read
    from the stage (results written before 4a54d39 costed proxy_on_all at the round's n even where the
    sample had shrunk), times the strategies; 0 where no round ran."""
    rounds = [s for s in result["stages"] if s["name"].startswith("proxy round")]
    return round(rounds[-1]["cost"]["steps"] / len(rounds[-1]["table"]) * strategies) if rounds else 0


def judge_case(config, case, results: list[dict]) -> dict | str:
    """The case's row, or why it cannot be judged."""
    truth, *_ = case_truth(config, case)
    if truth is None:
        return "ground truth incomplete"
    folder = config.path(config.results) / case.name
    accuracy = {s.strategy: s.mean for s in truth.strategies}
    acc = np.array([accuracy[s] for s in case.strategies])
    if np.ptp(acc) == 0:
        return "every strategy has the same accuracy"
    row = {"case": case.name, "accuracy": accuracy, "best": max(accuracy, key=accuracy.get), "sigma": accuracy_spread(acc), "runs": []}
    for result in results:
        preference = np.array([result["preference"][s] for s in case.strategies])
        row["runs"].append({"budget_steps": result["settings"]["budget_steps"], "outcome": vars(evaluate(preference, acc)),
                            "pick": result["best"], "tied_best": result["tied_best"], "p_best": result["p_best"],
                            "stopped": result["stopped"], "steps": result["cost"]["steps"],
                            "seconds": round(result["cost"]["seconds"], 1), "device": result["device"],
                            "proxy_on_all_steps": proxy_on_all_steps(result, len(case.strategies)), "stages": [
                                {"name": s["name"], "kept": s["kept"], "dropped": s["dropped"], "notes": s["notes"],
                                 "steps": s["cost"]["steps"], "computed": s["computed"]} for s in result["stages"]]})
    for name in BESIDE:
        file = folder / "scores" / f"{name}.json"
        if file.is_file():
            data = json.loads(file.read_text(encoding="utf-8"))
            if "refused" in data:  # no pick, judged as every strategy tied, as the track judges it
                row[name] = vars(evaluate(np.zeros(len(case.strategies)), acc))
                continue
            sign = 1.0 if data["higher_is_better"] else -1.0
            row[name] = vars(evaluate(sign * np.array([data["means"][s] for s in case.strategies]), acc))
    paper = next((s.name for s in config.selectors if s.scorer == "paper_proxy"), "proxy-paper")
    row["proxy_paper_steps"], row["proxy_paper_seconds"], row["proxy_paper_device"] = proxy_paper_cost(folder, case.strategies, paper)
    proxy = folder / "scores" / "proxy.json"
    if proxy.is_file() and "refused" not in (data := json.loads(proxy.read_text(encoding="utf-8"))):
        # its runs are not committed: their steps follow from what it trained on (one run per strategy)
        asked, recipe = data["asked"], Recipe(**data["asked"]["params"].get("recipe", {}))
        trained = questions_used(data.get("selection") or {}, asked["n_select"])  # the sample less its cut questions
        row["proxy_steps"] = len(asked["strategies"]) * steps_per_run(trained, recipe.epochs, recipe.batch_size)
    return row


def curve(rows: list[dict]) -> list[dict]:
    """Per budget, over the cases: the adaptive selector's weighted ρ and regret (95% bootstrap
    intervals over cases), its steps as a share of proxy-paper's, and its paired ρ difference from
    proxy-paper with the cases each way; then the committed selectors beside it, as points."""
    sigma = [row["sigma"] for row in rows]
    budgets = [run["budget_steps"] for run in rows[0]["runs"]]
    beside = {n: [CaseOutcome(**row[n]) for row in rows] for n in BESIDE if all(n in row for row in rows)}
    points = []
    for i, budget in enumerate(budgets):
        mine = [CaseOutcome(**row["runs"][i]["outcome"]) for row in rows]
        figures = summarize_many({"adaptive": mine}, sigma)["adaptive"]
        point = {"selector": "adaptive", "budget_steps": budget, "figures": {k: vars(v) for k, v in figures.items()},
                 "steps": [row["runs"][i]["steps"] for row in rows],
                 "share_of_proxy_paper": [row["runs"][i]["steps"] / row["proxy_paper_steps"] if row["proxy_paper_steps"] else None
                                          for row in rows],
                 "seconds_share_of_proxy_paper": [seconds_share(row["runs"][i], row) for row in rows]}
        if "proxy-paper" in beside:
            diffs = [difference(a, b) for a, b in zip(mine, beside["proxy-paper"])]
            point["vs_proxy_paper"] = {k: vars(v) for k, v in summarize_many({"d": diffs}, sigma)["d"].items()}
            point["vs_proxy_paper_rho_signs"] = vars(win_tie_loss([d.spearman for d in diffs]))
        points.append(point)
    for name, outcomes in beside.items():
        figures = summarize_many({name: outcomes}, sigma)[name]
        steps = [row.get(f"{name.replace('-', '_')}_steps") for row in rows] if name in ("proxy-paper", "proxy") else None
        points.append({"selector": name, "figures": {k: vars(v) for k, v in figures.items()}, "steps": steps})
    return points


def plot(points: list[dict], path: Path) -> None:
    """Weighted ρ against fine-tune steps (mean over cases), the adaptive selector's budgets joined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    mine = [p for p in points if p["selector"] == "adaptive"]
    mine.sort(key=lambda p: np.mean(p["steps"]))
    x = [np.mean(p["steps"]) for p in mine]
    y = [p["figures"]["weighted_spearman"]["estimate"] for p in mine]
    err = np.array([[p["figures"]["weighted_spearman"]["estimate"] - p["figures"]["weighted_spearman"]["low"],
                     p["figures"]["weighted_spearman"]["high"] - p["figures"]["weighted_spearman"]["estimate"]] for p in mine]).T
    ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label="adaptive (budgets)")
    for p in points:
        if p["selector"] != "adaptive":
            px = np.mean(p["steps"]) if p["steps"] else 0.0
            ax.plot(px, p["figures"]["weighted_spearman"]["estimate"], marker="s", linestyle="none", label=p["selector"])
    ax.set_xlabel("fine-tune steps per case (mean over cases)")
    ax.set_ylabel("weighted Spearman ρ")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "live" / "live.toml")
    parser.add_argument("--case", action="append", help="only these cases (default: every case with complete ground truth)")
    parser.add_argument("--budget-steps", type=int, action="append", default=[],
                        help=f"also run with this step budget (default: {', '.join(map(str, CURVE_BUDGETS))})")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--settings", type=json.loads, default={}, help="JSON over the pre-registered settings (then not them)")
    parser.add_argument("--cache", type=Path, help="SQLite cache for the screen (default $STYLEFIT_HOME/cache.sqlite)")
    parser.add_argument("--device", help="run the selector here on this device, not the case's bound one")
    parser.add_argument("--rerun", action="store_true", help="run the selector again over its committed results")
    parser.add_argument("--run-only", action="store_true", help="run and commit the selector's results; judge nothing "
                        "(on a machine that makes the ground truth at the same time)")
    parser.add_argument("--judge-only", action="store_true", help="run nothing: judge the committed results only")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "adaptive")
    args = parser.parse_args()
    config = load_live_config(args.config)
    rows, unjudged = [], []
    for case in config.cases:
        if args.case and case.name not in args.case:
            continue
        if not args.run_only and case_truth(config, case)[0] is None:  # judging runs nothing it cannot judge yet
            unjudged.append(f"{case.name}: ground truth incomplete")
            print(f"{case.name}: not judged (ground truth incomplete)", flush=True)
            continue
        try:
            results = run_case(config, case, sorted(args.budget_steps or CURVE_BUDGETS), args.workers, args.settings, args.cache, args.rerun,
                               args.device, args.judge_only)
        except TooFewQuestions as e:  # the track judges this as no pick (chance); the budget curve leaves the case out, said
            if args.run_only:
                raise
            row = f"the selector refuses the case (the live track judges that as no pick): {e}"
        except StylefitError as e:  # e.g. a case bound to a GPU, with no committed results: said, never skipped silently
            if args.run_only:
                raise
            row = f"the selector has not run on it: {e}"
        else:
            if args.run_only:
                continue
            row = judge_case(config, case, results)
        print(f"{case.name}: {'judged' if isinstance(row, dict) else f'not judged ({row})'}", flush=True)
        if isinstance(row, dict):
            rows.append(row)
        else:
            unjudged.append(f"{case.name}: {row}")
    if args.run_only:
        return
    points = curve(rows) if rows else []
    write_atomic(args.out.with_suffix(".json"), json.dumps({"cases": rows, "not_judged": unjudged, "curve": points}, indent=1) + "\n")
    if points:
        plot(points, args.out.with_suffix(".png"))
    lines = ["# The adaptive selector on the live track (issue 24)", "",
             "Produced by `python benchmarks/adaptive_live.py`: its pre-registered settings "
             "(`benchmarks/adaptive/preregistration.toml`), judged on each case whose ground truth is complete, beside the "
             "track's committed selectors. Regret in accuracy points; steps are fine-tune optimizer steps."
             + (f" NOT the pre-registered settings: {json.dumps(args.settings)} over them." if args.settings else ""), "",
             *[f"Not judged: {line}." for line in unjudged], "",
             "## Quality against budget", "",
             f"Over the {len(rows)} judged case(s): weighted ρ and mean regret with 95% bootstrap intervals over cases; steps "
             "per case; their share of proxy-paper's steps on the same case; the paired ρ difference from proxy-paper with the "
             "cases better/tied/worse and a sign test. The committed selectors beside it, as points (the familiarity scorers "
             "fine-tune nothing). Budget 0 is none." + (f" ![curve]({args.out.with_suffix('.png').name})" if points else ""), "",
             "| selector | budget (steps) | weighted ρ | regret (pts) | max regret | steps per case | share of proxy-paper's | Δρ vs proxy-paper | better/tied/worse (p) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for point in points:
        f = point["figures"]
        regret = [r["runs"][[u["budget_steps"] for u in r["runs"]].index(point["budget_steps"])]["outcome"]["regret_points"]
                  if point["selector"] == "adaptive" else r[point["selector"]]["regret_points"] for r in rows]
        shares = [x for x in point.get("share_of_proxy_paper") or [] if x is not None]
        vs = point.get("vs_proxy_paper", {}).get("weighted_spearman")
        signs = point.get("vs_proxy_paper_rho_signs")
        signs = f"{signs['wins']}/{signs['ties']}/{signs['losses']} (p={signs['sign_test_p']:.2f})" if signs else "-"
        lines.append(f"| {point['selector']} | {point.get('budget_steps', '-')} | {format_interval(f['weighted_spearman'])} | "
                     f"{format_interval(f['regret_points'], 1)} | {max(regret):.1f} | {' '.join(map(str, point['steps'])) if point['steps'] else '0'} | "
                     f"{' '.join(f'{x:.0%}' for x in shares) or '-'} | {format_interval(vs, signed=True) if vs else '-'} | "
                     f"{signs} |")
    lines += ["", "## Per case", "",
              "Seconds are wall-clock on the device named; their share of proxy-paper's is given only where both ran on one kind "
              "of device. Its seconds are what its fine-tunes recorded when they were made plus the time its screen took in the "
              "invocation that wrote the result: 0 when the screen's scores came from the cache, as for a budgeted run made after "
              "the unbudgeted one, so those understate by the unbudgeted run's screen.", "",
              "| case | budget (steps) | pick | P(best) | true best | regret | ρ | steps | proxy-paper's steps | seconds | "
              "proxy-paper's seconds | share | device | stopped |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        theirs = "-" if row["proxy_paper_seconds"] is None else f"{row['proxy_paper_seconds']:.0f} on {row['proxy_paper_device']}"
        for run in row["runs"]:
            o, share = run["outcome"], seconds_share(run, row)
            lines.append(f"| {row['case']} | {run['budget_steps'] or 'none'} | {run['pick'] or ' = '.join(run['tied_best'])} | "
                         f"{run['p_best']:.2f} | {row['best']} | {o['regret_points']:.1f} | {o['spearman']:.2f} | {run['steps']} | "
                         f"{row['proxy_paper_steps'] or '-'} | {run['seconds']:.0f} | {theirs} | "
                         f"{'-' if share is None else f'{share:.0%}'} | {run['device']} | {run['stopped']} |")
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
    try:
        main()
    except StylefitError as e:  # one line, as the CLI's errors are
        raise SystemExit(f"error: {e}") from None
