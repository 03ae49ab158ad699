"""Present a verification: one rich table per target for the terminal, JSON for machines."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from stylefit.data.jsonl import write_atomic
from stylefit.training.summary import CUT_FLAG, VerifyCase
from stylefit.training.verify import VerifyResult


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def case_table(case: VerifyCase, result: VerifyResult) -> Table:
    recipe = result.recipe
    method = f"LoRA r={recipe['lora_rank']}" if recipe["method"] == "lora" else "full fine-tuning"
    table = Table(
        title=f"{case.task}: strategies ranked by fine-tuned {case.metric} accuracy (%) of {case.target} "
        f"({method}, {result.n_train} examples, epochs {recipe['epochs']:g}; n={case.n_test} test questions)",
        caption="mean and sd over seeds (ddof=1); 95% CI from seed and test-item noise; "
        "vs next: difference to the next rank, * = separated beyond noise; (cut!) = over "
        f"{CUT_FLAG:.0%} of a run's test answers hit max_new_tokens, not counting answers caught in a loop",
    )
    for col, justify in [("rank", "right"), ("strategy", "left"), ("mean", "right"), ("sd", "right"), ("per seed", "right"),
                         ("95% CI", "right"), ("strict", "right"), ("flexible", "right"), ("vs next", "right")]:
        table.add_column(col, justify=justify)
    next_diff = {c.better: c for c in case.comparisons}
    for s in case.strategies:
        c = next_diff.get(s.strategy)
        vs_next = "" if c is None else f"{100 * c.diff:+.1f} [{100 * c.ci_low:+.1f}, {100 * c.ci_high:+.1f}]{'*' if c.separated else ''}"
        table.add_row(str(s.rank), s.strategy + (" [red](cut!)[/red]" if s.cut_flagged(case.n_test) else ""), _pct(s.mean), _pct(s.std), " ".join(_pct(a) for a in s.accuracies),
                      f"[{_pct(s.ci_low)}, {_pct(s.ci_high)}]", _pct(s.mean_strict), _pct(s.mean_flexible), vs_next)
    if case.base is not None:
        b = case.base
        table.add_row("", "[dim](base model)[/dim]", _pct(b.accuracy), "", "", f"±{_pct(1.96 * b.binomial_se)}",
                      _pct(b.strict), _pct(b.flexible), "")
    return table


def noise_line(case: VerifyCase) -> str:
    n = case.noise
    seed = "not measured (one seed)" if n.seed_std is None else _pct(n.seed_std)
    spread = "" if n.strategy_spread is None else f"; the strategies' means spread by sd {_pct(n.strategy_spread)}"
    return (f"Noise floor: one run's accuracy strays by sd {_pct(n.run_sd)} points "
            f"(seed to seed {seed}, test items {_pct(n.binomial_se)} at n={case.n_test}){spread}.")


def print_verify(result: VerifyResult, console: Console | None = None) -> None:
    console = console or Console()
    for case in result.cases:
        console.print(case_table(case, result))
        console.print(noise_line(case))
        for note in case.notes:
            console.print(f"[dim]note: {note}[/dim]")
    for note in result.notes:
        console.print(f"[dim]note: {note}[/dim]")
    console.print(f"[dim]{result.computed} of {len({r.key for r in result.runs})} runs computed now, the rest from the store; "
                  f"total {result.timings.get('total_s', 0):.1f}s[/dim]")


def write_json(result: VerifyResult, path: str | Path) -> None:
    write_atomic(path, json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
