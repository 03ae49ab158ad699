"""Set live-track cases' evaluation budgets from their training targets, before any of their runs.

    python benchmarks/live/set_eval_budget.py [--unless-set] CASE [CASE ...]

Every second-season budget follows one rule, fixed before any ground truth: EVAL_MARGIN (1.25) times
the case's longest training target in the target's own tokens, rounded up to a multiple of 64. This
writes that rule's `eval = { max_new_tokens = N }`, with a comment saying where N came from, at the
end of the case's block in live.toml. It refuses a case that already has a budget or any run file,
whose training examples are longer than its recipe's max_length, or whose candidates are not all
written (the track's truth stage refuses a budget short of the rule); with --unless-set, a case whose
budget is set already is left as it is (the GPU scripts' chain).
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

from stylefit.bench.live.config import case_task_path, load_live_config
from stylefit.core.errors import StylefitError
from stylefit.data.candidates import load_candidates
from stylefit.data.task import load_task
from stylefit.training.plan import plan_runs
from stylefit.training.recipe import EvalSettings, Recipe
from stylefit.training.verify import EVAL_MARGIN, eval_budget, over_long

CONFIG = Path(__file__).resolve().parent / "live.toml"
ROUND = 64


def budget_lines(case_name: str, config_path: Path = CONFIG) -> tuple[int, str]:
    """The case's budget by the rule, and the lines that set it."""
    config = load_live_config(config_path)
    case = next((c for c in config.cases if c.name == case_name), None)
    if case is None:
        raise StylefitError(f"{config_path}: no case '{case_name}'")
    if "max_new_tokens" in case.eval:
        raise StylefitError(f"case '{case_name}': its budget is set already ({case.eval['max_new_tokens']})")
    folder = config.path(config.results) / case.name
    if any((folder / "runs").glob("*.json")):
        raise StylefitError(f"case '{case_name}': it has run files, and a budget is set before any run")
    files = [folder / "candidates" / f"{s}.jsonl" for s in case.strategies]
    if missing := [f.name for f in files if not f.is_file()]:
        raise StylefitError(f"case '{case_name}': candidates not written yet ({', '.join(missing)})")
    task = load_task(case_task_path(config, case))
    candidates = load_candidates(task, files)
    # the recipe's max_length is checked with the budget, so that no grid stops halfway on an over-long example
    specs = plan_runs(task, candidates, case.target, strategies=case.strategies, seeds=[0], n_train=case.n_train,
                      recipe=Recipe(**(config.recipe | case.recipe)), base=False)
    if why := over_long(specs):
        raise StylefitError(f"case '{case_name}': {why}; set the case's recipe max_length first")
    b = eval_budget(candidates, case.target, case.strategies, case.n_train, EvalSettings())
    budget = ROUND * math.ceil(b["needed"] / ROUND)
    comment = (f"# set from its training targets before any run (set_eval_budget.py): the longest is {b['longest_target_tokens']}\n"
               f"# tokens ({b['longest_target']}), so {EVAL_MARGIN:g}x is {b['needed']}; rounded up to a multiple of {ROUND}")
    return budget, f"{comment}\neval = {{ max_new_tokens = {budget} }}\n"


def insert(text: str, case_name: str, lines: str) -> str:
    """``lines`` at the end of the case's [[cases]] block (before the blank line or table that follows it)."""
    start = re.search(rf'^name = "{re.escape(case_name)}"$', text, flags=re.M)
    if start is None:
        raise StylefitError(f"live.toml: no line 'name = \"{case_name}\"'")
    end = re.search(r"^\s*$|^\[", text[start.end() + 1 :], flags=re.M)
    at = start.end() + 1 + (end.start() if end else len(text) - start.end() - 1)
    return text[:at] + lines + text[at:]


def main(args: list[str]) -> None:
    names = [a for a in args if a != "--unless-set"]
    if not names:
        raise SystemExit(__doc__)
    text = CONFIG.read_text(encoding="utf-8")
    config = load_live_config(CONFIG)
    for name in names:  # every case checked before live.toml is written: all or nothing
        case = next((c for c in config.cases if c.name == name), None)
        if "--unless-set" in args and case is not None and "max_new_tokens" in case.eval:
            print(f"{name}: max_new_tokens = {case.eval['max_new_tokens']} (set already)")
            continue
        budget, lines = budget_lines(name)
        text = insert(text, name, lines)
        print(f"{name}: max_new_tokens = {budget}")
    CONFIG.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except StylefitError as e:
        raise SystemExit(f"error: {e}") from None
