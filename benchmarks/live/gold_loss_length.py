"""Does `proxy-gold_loss` measure learnability, or the length of the responses? An exploratory look at the
judged live cases.

    python benchmarks/live/gold_loss_length.py   # writes benchmarks/results/gold_loss_length.md and .json

Post hoc, not pre-registered: asked after all of the second season's pre-registered cases were judged,
where `proxy-gold_loss` and the shortest-first length order ranked the strategies almost alike and both
above every other selector, while on the first season's cases both had ranked them against the truth.
Nothing here judges or tunes a selector; it reads the committed track and the committed scores.

Why they could agree: `proxy-gold_loss` fine-tunes briefly on each strategy's sample, then reads how
much more likely the fine-tuned target finds ``Final Answer: <gold>`` written directly after a held-out
question. A target fine-tuned on answer-only responses learns to write exactly that as its first
tokens; one fine-tuned to reason first learns not to. So the measure rewards the answer-only format
whether or not it is the format the target learns best from.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from stylefit.data.jsonl import write_atomic
from stylefit.selection.quality import CaseOutcome, format_interval, summarize_many

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
SELECTORS = ("proxy-gold_loss", "length")


def preference(case: str, selector: str, strategies: list[str]) -> np.ndarray:
    """The selector's per-strategy score, higher preferred."""
    path = RESULTS / "live" / case / "scores" / f"{selector}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("means") is None:  # neither selector has refused a case: one that does cannot be compared here
        raise SystemExit(f"{path}: {selector} refused the case ({data.get('refused')}), so it has no preference to compare")
    sign = 1.0 if data["higher_is_better"] else -1.0
    return np.array([sign * data["means"][s] for s in strategies])


def analyse(track: dict[str, Any]) -> dict[str, Any]:
    judged = [c for c in track["cases"] if c.get("judged")]
    rows = []
    for i, case in enumerate(judged):
        strategies = list(case["accuracy"])
        gold_loss, length = (preference(case["case"], s, strategies) for s in SELECTORS)
        shortest = [s for s, v in zip(strategies, length) if v == length.max()]  # tied where their responses are the same length
        best = max(a["mean"] for a in case["accuracy"].values())
        rows.append({"case": case["case"], "preregistered": case["preregistered"], "sigma": case["sigma"],
                     "agreement": float(spearmanr(gold_loss, length)[0]),  # the two preferences, rank against rank
                     "best": [s for s in strategies if case["accuracy"][s]["mean"] == best], "shortest": shortest,
                     # how far the shortest strategy is below the best, in points (the mean over a tie)
                     "shortest_gap": 100 * (best - float(np.mean([case["accuracy"][s]["mean"] for s in shortest]))),
                     "outcomes": {s: track["outcomes"][s][i] for s in SELECTORS}})
    groups = {"all": rows, "development": [r for r in rows if not r["preregistered"]],
              "pre-registered": [r for r in rows if r["preregistered"]]}
    return {"cases": rows, "median_agreement": float(np.median([r["agreement"] for r in rows])),
            "groups": {name: _figures(group) for name, group in groups.items() if group}}


def _figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    outcomes = {s: [CaseOutcome(**r["outcomes"][s]) for r in rows] for s in SELECTORS}
    summary = summarize_many(outcomes, [r["sigma"] for r in rows])
    return {"cases": len(rows), **{s: {k: vars(summary[s][k]) for k in ("weighted_spearman", "regret_points")} for s in SELECTORS}}


def render(result: dict[str, Any]) -> str:
    lines = ["# proxy-gold_loss against the length order (exploratory, post hoc)", "",
             "Written by `python benchmarks/live/gold_loss_length.py` from the committed live track; it judges and tunes "
             "nothing. Asked after the second season's pre-registered cases were judged (see the script's docstring for why "
             "the two could agree: the measure reads `Final Answer: <gold>` written directly after the question).", "",
             "Per judged case: Spearman ρ between the two selectors' preferences over the case's strategies, each one's ρ "
             "against the truth (the strategies' mean fine-tuned accuracy, 2 seeds, 300 test questions) and its regret, "
             "and how far the shortest strategy fell below the best.", "",
             "| case | pre-registered | ρ(gold_loss, length) | gold_loss ρ / regret | length ρ / regret | best | shortest (points below the best; a tie: their mean) |",
             "|---|---|---|---|---|---|---|"]
    for r in result["cases"]:
        g, n = r["outcomes"]["proxy-gold_loss"], r["outcomes"]["length"]
        lines.append(f"| {r['case']} | {'yes' if r['preregistered'] else 'no'} | {r['agreement']:+.2f} | {g['spearman']:+.2f} / "
                     f"{g['regret_points']:.1f} | {n['spearman']:+.2f} / {n['regret_points']:.1f} | {' = '.join(r['best'])} | "
                     f"{' = '.join(r['shortest'])} ({r['shortest_gap']:.1f}) |")
    lines += ["", f"Median agreement over the {len(result['cases'])} cases: ρ {result['median_agreement']:+.2f}.", "",
              "Weighted ρ against the truth and mean regret (points), 95% bootstrap interval over the cases of each group "
              "(weights: each case's spread of accuracies, as the track's):", "",
              "| cases | N | proxy-gold_loss ρ | length ρ | proxy-gold_loss regret | length regret |", "|---|---|---|---|---|---|"]
    for name, f in result["groups"].items():
        lines.append(f"| {name} | {f['cases']} | {format_interval(f['proxy-gold_loss']['weighted_spearman'])} | "
                     f"{format_interval(f['length']['weighted_spearman'])} | {format_interval(f['proxy-gold_loss']['regret_points'], 1)} | "
                     f"{format_interval(f['length']['regret_points'], 1)} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    track = json.loads((RESULTS / "live_track.json").read_text(encoding="utf-8"))
    result = analyse(track)
    write_atomic(RESULTS / "gold_loss_length.json", json.dumps(result, indent=1) + "\n")
    write_atomic(RESULTS / "gold_loss_length.md", render(result))
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
