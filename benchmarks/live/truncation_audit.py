"""How much of the committed live track was cut by a length limit, and what budget a rerun needs.

    python benchmarks/live/truncation_audit.py

Per case and strategy, from the committed files under benchmarks/results/live/ (nothing is computed
but token counts): the length of the training targets (the responses not flagged truncated, which
are all that is trained on) in the target's own tokens (longest and 95th percentile), how many of
the teacher's generations hit their budget and how many responses stayed cut (flagged truncated),
the test answers cut by the case's evaluation budget per seed (those caught in a loop apart), and
the budget the longest target needs (stylefit.training.verify.EVAL_MARGIN past it). A run is
flagged as stylefit.training.summary.cut_flagged says.
Results: benchmarks/results/live_truncation.{json,md}.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from stylefit.bench.live.config import load_live_config
from stylefit.data.jsonl import write_atomic
from stylefit.training.evaluate import Evaluation
from stylefit.training.summary import CUT_FLAG, cut_flagged
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
        mine = [r for r in runs if r["strategy"] == strategy]
        cut = {r["seed"]: r["evaluation"]["hit_length_limit"] for r in mine}
        loops = {r["seed"]: Evaluation.model_validate(r["evaluation"]).looping for r in mine}
        n_test = next((r["evaluation"]["n"] for r in runs), 0)
        row = {"test_answers_cut": cut, "looping": loops, "flagged": any(cut_flagged(c, n_test, loops[s]) for s, c in cut.items())}
        if strategy is not None:
            written = [json.loads(line) for line in (folder / "candidates" / f"{strategy}.jsonl").read_text(encoding="utf-8").splitlines()]
            lengths = sorted(len(tokenizer(r["response"], add_special_tokens=False).input_ids) for r in written if not r.get("truncated"))
            row |= {"targets": len(lengths), "longest_tokens": lengths[-1], "p95_tokens": lengths[math.ceil(0.95 * len(lengths)) - 1],
                    "teacher_cut": generated[strategy].get("hit_length_limit", 0),
                    "flagged_truncated": sum(bool(r.get("truncated")) for r in written),
                    "teacher_max_new_tokens": generated[strategy]["recipe"].get("max_new_tokens"),
                    "length_retries": generated[strategy]["recipe"].get("length_retries")}
        rows[strategy or "(base model)"] = row
    longest = max(r["longest_tokens"] for r in rows.values() if "longest_tokens" in r)
    return {"target": target, "n_test": n_test, "strategies": rows, "longest_tokens": longest,
            "eval_budget_needed": math.ceil(EVAL_MARGIN * longest)}


def main() -> None:
    config = load_live_config(CONFIG)
    root = config.path(config.results)
    cases, unwritten = {}, {}
    for case in config.cases:
        written = [s for s in case.strategies if (root / case.name / "candidates" / f"{s}.jsonl").is_file()]
        if len(written) < len(case.strategies):  # nothing to audit until every set is written: said below, not skipped silently
            unwritten[case.name] = f"{len(written)} of its {len(case.strategies)} candidate sets written"
            continue
        cases[case.name] = audit_case(root / case.name, case.target, case.strategies)
        cases[case.name]["eval_max_new_tokens"] = (config.eval | case.eval).get("max_new_tokens")
    figures = {"cut_flag": CUT_FLAG, "margin": EVAL_MARGIN, "cases": cases, "not_audited": unwritten}
    write_atomic(RESULTS / "live_truncation.json", json.dumps(figures, indent=1) + "\n")
    lines = ["# Live track: what the length limits cut", "",
             "Produced by `python benchmarks/live/truncation_audit.py` from the committed candidate sets and runs. Lengths are in "
             "the target's own tokens, over each set's training targets (its responses not flagged truncated: all that is trained "
             "on). *teacher cut*: generations that hit their budget, retries and longer budgets included, at the recipe's first "
             "budget; under the current rules a cut response is generated again with twice the budget (`length_retries` times) "
             "and one still cut is *flagged truncated* and never trained on, while sets made before those rules (retries "
             "'-') appended the gold answer to a cut wrong response. *test answers cut*: of each run's test answers, those that "
             "hit the case's evaluation budget, per seed, with those caught in a loop in brackets; (cut!) past "
             f"{CUT_FLAG:.0%} of them, loops aside. A case under rerun shows the runs committed so far.", "",
             *[f"Not audited: {name} ({why})." for name, why in unwritten.items()], ""]
    for name, case in cases.items():
        budget = case["eval_max_new_tokens"]
        lines += [f"## {name} ({case['target']})", "",
                  f"Longest training target: {case['longest_tokens']} tokens; a budget of {case['eval_budget_needed']} "
                  f"({EVAL_MARGIN:g}x) leaves room for it; the case evaluates with {budget}"
                  + (" (too short)." if budget < case["eval_budget_needed"] else "."), "",
                  "| strategy | targets | longest target | 95th pct | teacher cut (budget, retries) | flagged truncated | "
                  "test answers cut per seed |", "|---|---|---|---|---|---|---|"]
        for strategy, r in case["strategies"].items():
            seeds = sorted(r["test_answers_cut"], key=lambda s: s or 0)
            cut = " ".join(str(r["test_answers_cut"][s]) for s in seeds)
            if any(r["looping"].values()):
                cut += f" ({' '.join(str(r['looping'][s]) for s in seeds)} looping)"
            teacher = (f"{r['teacher_cut']} (at {r['teacher_max_new_tokens']}, {'-' if r['length_retries'] is None else r['length_retries']})"
                       if "targets" in r else "")
            lines.append(f"| {strategy} | {r.get('targets', '')} | {r.get('longest_tokens', '')} | {r.get('p95_tokens', '')} | {teacher} | "
                         f"{r.get('flagged_truncated', '')} | {cut}{' (cut!)' if r['flagged'] else ''} |")
        lines.append("")
    write_atomic(RESULTS / "live_truncation.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
