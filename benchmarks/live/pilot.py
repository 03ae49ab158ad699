"""Choose the live track's tasks and recipe: base accuracy and a small learning curve per candidate task.

    python benchmarks/live/pilot.py curve products            # the recipe grid on one task
    python benchmarks/live/pilot.py tasks basic_arithmetic ...  # candidate tasks under the chosen recipe
    python benchmarks/live/pilot.py table                     # rewrite benchmarks/results/live_pilot.md

Resumable: every fine-tuning run lands in benchmarks/results/live_pilot/<task>/runs/ as it finishes.

For each candidate task (benchmarks/live/tasks.py) and the default target, SmolLM2-135M-Instruct:
the untrained target's strict accuracy on the first 100 test questions, and the accuracy after a
LoRA fine-tune (r=8 on q/v, batch 8) on the first 150 training questions written two ways, the
generator's terse solution (`gold`) and `answer_only`, one seed. A task is kept when fine-tuning
moves accuracy by at least 10 points, the two strategies differ by more than the test-item noise,
and the best fine-tuned accuracy beats always answering the test set's most common answer (a task
a constant solves measures nothing). The recipe (learning rate, epochs) is chosen on one task
(`curve`) and then used for every task; chain_sum is kept out of both choices. The choice uses only
these two programmatic strategies, never the selectors' scores or the track's own strategies, so it
cannot favour a selector.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from stylefit.bench.live.runs import CommittedRuns
from stylefit.data.jsonl import write_atomic
from stylefit.strategies import generate
from stylefit.training import verify

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parents[0] / "results" / "live_pilot"
N_TRAIN, N_TEST, SEED = 150, 100, 0
EVAL = {"max_new_tokens": 128}
RECIPES = {  # name -> LoRA recipe; "default" is stylefit's own default
    "default": {"learning_rate": 2e-4, "epochs": 2},
    "lr1e-3": {"learning_rate": 1e-3, "epochs": 2},
    "lr1e-3-ep4": {"learning_rate": 1e-3, "epochs": 4},
}
CHOSEN = "lr1e-3"  # from `curve products`; see the table's note
# What a row's figures cannot show: said under the table.
NOTES = {"word_sequence_reversal": "its gold run's seconds include about 30 minutes during which the pilot was paused "
                                   "(SIGSTOP) while a timing benchmark had the CPU to itself",
         "aiw": "the sibling and friend questions only (the colleagues questions and those naming another man's brother "
                "have a doubtful gold; tasks.py says why). It passes the issue's rule but both strategies reach 100%: a "
                "case on it would tie its strategies at the ceiling and judge nothing, so no case uses it",
         "calendar_arithmetic, number_filtering": "piloted 2026-12-05 for the season's twelfth case; both fail the issue's "
                                                  "rule, so no case uses them"}


def pilot(name: str, recipe: str) -> dict:
    task = HERE / "tasks" / name
    folder = RESULTS / name
    generate(task, ["gold", "answer_only"], out=folder / "candidates", n=N_TRAIN)
    files = [folder / "candidates" / "gold.jsonl", folder / "candidates" / "answer_only.jsonl"]
    # float32 wherever it runs (a lent GPU's auto would be bf16); on this CPU that is what auto gives, so the keys are unchanged
    result = verify(task, files, seeds=[SEED], n_train=N_TRAIN, n_test=N_TEST, eval_settings=EVAL, recipe=RECIPES[recipe],
                    store=CommittedRuns(None, folder / "runs"), dtype="float32")
    case = result.cases[0]
    accuracy = {s.strategy: s.mean for s in case.strategies}
    seconds = {r.strategy or "base": round(r.timings["total_s"], 1) for r in result.runs}
    lift = max(accuracy.values()) - case.base.accuracy
    gap = abs(accuracy["gold"] - accuracy["answer_only"])
    golds = [json.loads(line)["gold"] for line in (task / "test.jsonl").read_text().splitlines()[:N_TEST]]
    majority = max(golds.count(g) for g in set(golds)) / len(golds)
    # How much did training change the model at all: test outputs identical to the untrained model's.
    outputs = {r.strategy: [item.output for item in r.evaluation.items] for r in result.runs}
    unchanged = {s: sum(a == b for a, b in zip(outputs[s], outputs[None])) / N_TEST for s in ("gold", "answer_only")}
    keep = lift >= 0.10 and gap > 1.96 * 2**0.5 * case.noise.binomial_se and max(accuracy.values()) > majority
    return {"task": name, "recipe": recipe, "recipe_params": RECIPES[recipe], "base": case.base.accuracy, "accuracy": accuracy,
            "lift": lift, "gap": gap, "majority": majority, "unchanged": unchanged, "binomial_se": case.noise.binomial_se,
            "keep": keep, "seconds": seconds}


def run(name: str, recipe: str) -> None:
    write_atomic(RESULTS / f"{name}.{recipe}.json", json.dumps(pilot(name, recipe), indent=2) + "\n")
    table()


def table() -> None:
    lines = ["# Live-track task and recipe choice (pilot)", "", __doc__.split("\n\n", 3)[3].strip(), "",
             f"SmolLM2-135M-Instruct, n_train={N_TRAIN}, n_test={N_TEST} (strict accuracy, %), seed {SEED}. "
             "Recipes: " + "; ".join(f"`{k}` lr {v['learning_rate']:g}, {v['epochs']} epochs" for k, v in RECIPES.items()) + ".", "",
             "| task | recipe | base | gold | answer_only | lift | gap | test-item se | most common answer | outputs unchanged by training (gold, answer_only) | keep | issue 25's rule | seconds (base, gold, answer_only) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for path in sorted(RESULTS.glob("*.json")):
        r = json.loads(path.read_text())
        a = r["accuracy"]
        lines.append(f"| {r['task']} | {r.get('recipe', 'default')} | {100 * r['base']:.0f} | {100 * a['gold']:.0f} | {100 * a['answer_only']:.0f} | "
                     f"{100 * r['lift']:+.0f} | {100 * r['gap']:.0f} | {100 * r['binomial_se']:.1f} | {100 * r['majority']:.0f} | "
                     f"{100 * r['unchanged']['gold']:.0f}, {100 * r['unchanged']['answer_only']:.0f} | "
                     f"{'yes' if r['keep'] else 'no'} | {'yes' if max(a.values()) - r['majority'] >= 0.10 - 1e-9 else 'no'} | "
                     f"{r['seconds'].get('base')}, {r['seconds'].get('gold')}, {r['seconds'].get('answer_only')} |")
    lines += ["", f"Recipe chosen: `{CHOSEN}` ({RECIPES[CHOSEN]['epochs']} epochs, lr {RECIPES[CHOSEN]['learning_rate']:g}), by looking at the "
              "`products` rows above (the only task in that choice): a 5x larger learning rate than the default moves "
              "both strategies further, and 4 epochs add nothing over 2 at twice the training time. chain_sum was kept "
              "out of this choice; the other tasks were piloted only after it, under the chosen recipe.",
              "", "The second season's candidate families (issue 25: word_sequence_reversal, word_sorting, caesar_cipher, "
              "family_relationships, number_sorting; then calendar_arithmetic, aiw and number_filtering for its twelfth case) were "
              "piloted under the same recipe and rule, each before any case of its own existed; their `gold` is benchmarks/live/tasks.py's "
              "solution writer, used here only to pilot. The season's cases take a family on the issue's criterion (the best "
              "fine-tuned accuracy at least 10 points over always answering the most common answer), a choice made after "
              "seeing this table (`issue 25's rule` above): word_sequence_reversal, family_relationships and basic_arithmetic "
              "pass it and not the `keep` rule; number_sorting passes both.",
              *[f"- {task}: {note}." for task, note in NOTES.items()],
              "", "chain_sum is not piloted: `benchmarks/results/verify_example.md` measured the same generator "
              "config (the bundled example; n_train=200, n_test=100, one seed, the default recipe): base 10%, worked_steps 29%, answer_only 16%."]
    write_atomic(RESULTS.parent / "live_pilot.md", "\n".join(lines) + "\n")


def main(argv: list[str]) -> None:
    mode, names = argv[0], argv[1:]
    if mode == "curve":
        for recipe in RECIPES:
            run(names[0], recipe)
    elif mode == "tasks":
        for name in names:
            run(name, CHOSEN)
    elif mode == "table":
        table()
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:] or ["table"])
