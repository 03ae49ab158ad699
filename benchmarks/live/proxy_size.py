"""How many examples must a learnability proxy fine-tune on? An exploratory look at the judged live cases.

    python benchmarks/live/proxy_size.py   # writes benchmarks/results/proxy_size.md and .json

Post hoc, not pre-registered: asked after products-smollm2-no_solution, where the strategy that won by
over fifty points under the ground truth's 150 examples ranked near the bottom of every proxy that
fine-tuned on 25 or 50, while proxy-paper (100) picked it. Nothing here judges or tunes a selector; it
reads the committed track and the committed proxy results, and computes nothing else:

- round 1: the adaptive selector's first round (25 examples, 1 epoch, 50 held-out questions), on the
  cases where every strategy entered it (its regime check sent all on);
- proxy: 50 examples (the track's n_select), 2 epochs, 100 held-out training questions;
- proxy-paper: 100 examples, 2 epochs, the case's 100 questions past n_train;
- the ground truth: 150 examples, 2 epochs, 300 test questions, 2 seeds.

Each takes fewer examples where responses are cut, listed under the table: round 1 and proxy leave a
question out for every strategy when one strategy's response to it is cut, proxy-paper (as the ground
truth) only that strategy's. All three use the track's learning rate and batch size. proxy and proxy-paper differ in the examples'
number and in their held-out questions, round 1 also in epochs and in its held-out number.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from stylefit.bench.live.config import PAPER_PROXY_DEFAULTS, load_live_config
from stylefit.data.jsonl import write_atomic
from stylefit.selection.adaptive import AdaptiveSettings
from stylefit.selection.quality import difference, evaluate, format_interval, summarize_many, win_tie_loss

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
# the proxies' sizes, as registered: the adaptive selector's first round, the track's sample, proxy-paper's n
ROUND_ONE, PROXY_N, PAPER_N = AdaptiveSettings().rounds[0].n, load_live_config(REPO / "benchmarks" / "live" / "live.toml").n_select, \
    PAPER_PROXY_DEFAULTS["n"]
PROXIES = (f"round 1 ({ROUND_ONE} examples, 1 epoch)", f"proxy ({PROXY_N} examples)", f"proxy-paper ({PAPER_N} examples)")  # smallest first


def round_one(case: str) -> dict[str, float] | None:
    """The adaptive selector's first-round held-out accuracies, or None where it left a strategy out."""
    path = RESULTS / "live" / case / "adaptive" / "budget-0.json"
    stages = json.loads(path.read_text(encoding="utf-8"))["stages"] if path.is_file() else []
    first = next((s for s in stages if s["name"].startswith("proxy round 1")), None)
    return None if first is None else {row["strategy"]: row["mean"] for row in first["table"]}


def proxy_paper_examples(case: str, strategies: list[str]) -> dict[str, int]:
    """The examples each strategy's proxy-paper run trained on (its own cut responses left out)."""
    from stylefit.bench.live.runs import latest_runs

    return {s: run["training"]["examples"] for s, run in latest_runs(RESULTS / "live" / case / "proxy_runs", strategies).items()}


def proxy_means(case: dict[str, Any]) -> dict[str, dict[str, float] | None]:
    """Each proxy's per-strategy held-out accuracy on the case (None where it did not rank every strategy)."""
    scores = RESULTS / "live" / case["case"] / "scores"
    read = lambda name: json.loads((scores / f"{name}.json").read_text(encoding="utf-8")).get("means")  # none where it refused
    means = dict(zip(PROXIES, [round_one(case["case"]), read("proxy"), read("proxy-paper")]))
    return {name: m if m is not None and set(m) == set(case["accuracy"]) else None for name, m in means.items()}


def analyse(track: dict[str, Any]) -> dict[str, Any]:
    cases = [c for c in track["cases"] if c.get("judged")]
    rows, outcomes = [], {name: [] for name in PROXIES}
    for case in cases:
        strategies = list(case["accuracy"])
        accuracy = np.array([case["accuracy"][s]["mean"] for s in strategies])
        row = {"case": case["case"], "preregistered": case["preregistered"], "sigma": case["sigma"],
               "best": [s for s in strategies if case["accuracy"][s]["mean"] == accuracy.max()], "proxies": {},
               # proxy and round 1 train on the sample's questions that no strategy's response leaves out: maybe fewer
               "paired_questions": {name: case.get("selector_questions", {}).get(name) for name in ("proxy", "adaptive")},
               "proxy_paper_examples": proxy_paper_examples(case["case"], strategies)}
        for name, means in proxy_means(case).items():
            if means is None:
                outcomes[name].append(None)
                continue
            outcome = evaluate(np.array([means[s] for s in strategies]), accuracy)
            outcomes[name].append(outcome)
            top = max(means.values())
            row["proxies"][name] = {"spearman": outcome.spearman, "regret_points": outcome.regret_points,
                                    "picks": [s for s in strategies if means[s] == top]}
        rows.append(row)
    # every proxy over the cases where all three ranked every strategy, paired to the next size up
    common = [i for i in range(len(cases)) if all(outcomes[name][i] is not None for name in PROXIES)]
    sigma = [cases[i]["sigma"] for i in common]
    table = {name: [outcomes[name][i] for i in common] for name in PROXIES}
    figures = summarize_many(table, sigma)
    names = list(PROXIES)
    paired = {}
    for small, large in zip(names, names[1:]):
        diffs = [difference(a, b) for a, b in zip(table[large], table[small])]
        summary = summarize_many({"d": diffs}, sigma)["d"]
        paired[f"{large} minus {small}"] = {"weighted_spearman": vars(summary["weighted_spearman"]),
                                            "regret_points": vars(summary["regret_points"]),
                                            "spearman_signs": vars(win_tie_loss([d.spearman for d in diffs]))}
    return {"cases": rows, "common_cases": [cases[i]["case"] for i in common],
            "figures": {name: {f: vars(i) for f, i in figures[name].items() if f in ("weighted_spearman", "regret_points")}
                        for name in names},
            "paired": paired}


def markdown(result: dict[str, Any]) -> str:
    names = list(PROXIES)
    lines = ["# How many examples must a learnability proxy fine-tune on? (exploratory)", "",
             "Produced by `python benchmarks/live/proxy_size.py` from `live_track.json` and the committed proxy results. "
             "**Post hoc, not pre-registered**: asked after products-smollm2-no_solution, where the winning strategy "
             f"ranked near the bottom of every proxy fine-tuned on {ROUND_ONE} or {PROXY_N} examples; it judges no selector and tunes none. "
             "Per case: Spearman ρ of each proxy's held-out accuracies against the ground truth's mean test accuracies "
             "(150 examples, 2 seeds), and the regret of its pick, in points. '-': the proxy did not rank every strategy "
             "(the adaptive selector's first round takes only its shortlist where the target solves a fifth of its questions).", "",
             "| case | pre-registered | σ | best | " + " | ".join(f"{n}: ρ, regret" for n in names) + " |",
             "|---" * (4 + len(names)) + "|"]
    for row in result["cases"]:
        cells = [f"{p['spearman']:.2f}, {p['regret_points']:.1f}" if (p := row["proxies"].get(n)) else "-" for n in names]
        lines.append(f"| {row['case']} | {'yes' if row['preregistered'] else 'no'} | {100 * row['sigma']:.1f} | "
                     f"{' = '.join(row['best'])} | " + " | ".join(cells) + " |")
    def fewer(row: dict[str, Any]) -> str:  # round 1 takes the first ROUND_ONE of the screen's sample
        proxy, screen = row["paired_questions"].get("proxy"), row["paired_questions"].get("adaptive")
        paper = {s: n for s, n in row["proxy_paper_examples"].items() if n < PAPER_N}
        return ", ".join(([f"proxy {proxy[0]} of {proxy[1]}"] if proxy and proxy[0] < proxy[1] else [])
                         + ([f"round 1 {screen[0]} of {ROUND_ONE}"] if screen and screen[0] < ROUND_ONE else [])
                         + ([f"proxy-paper, each on its own: {', '.join(f'{s} {n}' for s, n in sorted(paper.items()))} of {PAPER_N}"] if paper else []))

    short = [f"{row['case']} ({text})" for row in result["cases"] if (text := fewer(row))]
    if short:
        lines += ["", "Fewer examples than a column names, where responses are cut: proxy and round 1 leave a question out for every "
                  "strategy when one strategy's response to it is cut; proxy-paper, as the ground truth, leaves out each "
                  "strategy's own: " + "; ".join(short) + "."]
    n = len(result["common_cases"])
    lines += ["", f"Over the {n} cases where all three ranked every strategy ({', '.join(result['common_cases'])}), "
              "σ-weighted ρ and mean regret with 95% percentile bootstrap intervals over cases:", "",
              "| proxy | weighted ρ | regret (pts) |", "|---|---|---|"]
    lines += [f"| {name} | {format_interval(f['weighted_spearman'])} | {format_interval(f['regret_points'], 1)} |"
              for name, f in result["figures"].items()]
    lines += ["", "Paired, each size against the next smaller one on the same cases (W/T/L: cases where the larger "
              "ranked better, the same, worse; two-sided sign test):", "",
              "| comparison | Δ weighted ρ | Δ regret (pts) | ρ W/T/L (p) |", "|---|---|---|---|"]
    for name, p in result["paired"].items():
        s = p["spearman_signs"]
        lines.append(f"| {name} | {format_interval(p['weighted_spearman'], signed=True)} | "
                     f"{format_interval(p['regret_points'], 1, signed=True)} | {s['wins']}/{s['ties']}/{s['losses']} (p={s['sign_test_p']:.2f}) |")
    lines += ["", f"{n} cases: read the signs before the intervals. The sizes differ in more than the number of examples "
              "(held-out questions; round 1 also in epochs), so this shows what the registered proxies did, not the "
              "effect of size alone."]
    return "\n".join(lines) + "\n"


def main() -> None:
    track = json.loads((RESULTS / "live_track.json").read_text(encoding="utf-8"))
    result = analyse(track)
    write_atomic(RESULTS / "proxy_size.json", json.dumps(result, indent=1, default=float) + "\n")
    write_atomic(RESULTS / "proxy_size.md", markdown(result))
    print(f"wrote {RESULTS / 'proxy_size.md'} ({len(result['common_cases'])} cases with every proxy)", file=sys.stderr)


if __name__ == "__main__":
    main()
