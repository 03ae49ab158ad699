"""How much of the committed live track was cut by a length limit, and what budget a rerun needs.

    python benchmarks/live/truncation_audit.py

Per case and strategy, from the committed files under benchmarks/results/live/ (nothing is computed
but token counts): the training targets' length in the target's own tokens (longest and 95th
percentile), how many of the teacher's generations hit the generation limit, the test answers cut
by the evaluation's max_new_tokens per seed, and the evaluation budget the longest target needs
(stylefit.training.verify.EVAL_MARGIN past it). A run is flagged past stylefit.training.summary.CUT_FLAG.
Results: benchmarks/results/live_truncation.{json,md}.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from stylefit.bench.live import load_live_config
from stylefit.data.jsonl import write_atomic
from stylefit.training.summary import CUT_FLAG
from stylefit.training.verify import EVAL_MARGIN

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "benchmarks" / "live" / "live.toml"
RESULTS = REPO / "benchmarks" / "results"


def audit_case(folder: Path, target: str, strategies: list[str]) -> dict:
    from transformers import AutoTokenizer

    from stylefit.models.registry import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(target).path)
    manifest = json.loads((folder / "candidates" / "manifest.json").read_text(encoding="utf-8"))
    generated = {s["strategy"]: s for s in manifest["strategies"]}
    runs = [json.loads(f.read_text(encoding="utf-8")) for f in sorted((folder / "runs").glob("*.json"))]
    rows = {}
    for strategy in strategies + [None]:
        cut = {r["seed"]: r["evaluation"]["hit_length_limit"] for r in runs if r["strategy"] == strategy}
        n_test = next(r["evaluation"]["n"] for r in runs)
        row = {"test_answers_cut": cut, "flagged": any(c > CUT_FLAG * n_test for c in cut.values())}
        if strategy is not None:
            responses = [json.loads(line)["response"] for line in
                         (folder / "candidates" / f"{strategy}.jsonl").read_text(encoding="utf-8").splitlines()]
            lengths = sorted(len(tokenizer(r, add_special_tokens=False).input_ids) for r in responses)
            row |= {"targets": len(lengths), "longest_tokens": lengths[-1], "p95_tokens": lengths[math.ceil(0.95 * len(lengths)) - 1],
                    "teacher_cut": generated[strategy].get("hit_length_limit", 0),
                    "teacher_max_new_tokens": generated[strategy]["recipe"].get("max_new_tokens")}
        rows[strategy or "(base model)"] = row
    longest = max(r["longest_tokens"] for r in rows.values() if "longest_tokens" in r)
    return {"target": target, "n_test": n_test, "strategies": rows, "longest_tokens": longest,
            "eval_budget_needed": math.ceil(EVAL_MARGIN * longest)}


def main() -> None:
    config = load_live_config(CONFIG)
    root = config.path(config.results)
    cases = {case.name: audit_case(root / case.name, case.target, case.strategies) for case in config.cases}
    figures = {"eval_max_new_tokens": config.eval.get("max_new_tokens"), "cut_flag": CUT_FLAG, "margin": EVAL_MARGIN,
               "cases": cases}
    write_atomic(RESULTS / "live_truncation.json", json.dumps(figures, indent=1) + "\n")
    budget = figures["eval_max_new_tokens"]
    sizes = " or ".join(sorted({str(r["targets"]) for c in cases.values() for r in c["strategies"].values() if "targets" in r}))
    lines = ["# Live track: what the length limits cut", "",
             "Produced by `python benchmarks/live/truncation_audit.py` from the committed candidate sets and runs. Lengths are in "
             f"the target's own tokens, over the {sizes} training targets of each set. *teacher cut*: generations, retries included, that "
             "hit the teacher's max_new_tokens (under the "
             "generation rules these sets were made with, a cut response that was wrong got the gold answer appended). *test "
             f"answers cut*: of each run's {next(iter(cases.values()))['n_test']} test answers, those that hit the evaluation's "
             f"max_new_tokens ({budget}), per seed; (cut!) past {CUT_FLAG:.0%}.", ""]
    for name, case in cases.items():
        lines += [f"## {name} ({case['target']})", "",
                  f"Longest training target: {case['longest_tokens']} tokens; an evaluation budget of {case['eval_budget_needed']} "
                  f"({EVAL_MARGIN:g}x) would leave room for it"
                  + (f" (the track used {budget})." if budget < case["eval_budget_needed"] else "."), "",
                  "| strategy | longest target | 95th pct | teacher cut (budget) | test answers cut per seed |", "|---|---|---|---|---|"]
        for strategy, r in case["strategies"].items():
            cut = " ".join(str(c) for _, c in sorted(r["test_answers_cut"].items(), key=lambda kv: kv[0] or 0))
            teacher = f"{r['teacher_cut']} (at {r['teacher_max_new_tokens']})" if "targets" in r else ""
            lines.append(f"| {strategy} | {r.get('longest_tokens', '')} | {r.get('p95_tokens', '')} | {teacher} | "
                         f"{cut}{' (cut!)' if r['flagged'] else ''} |")
        lines.append("")
    write_atomic(RESULTS / "live_truncation.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
