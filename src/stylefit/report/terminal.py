"""Present a selection: a ranked rich table for the terminal, JSON for machines."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from stylefit.data.jsonl import write_atomic
from stylefit.selection.select import SelectionResult


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.4g}" if abs(x) < 1e4 else f"{x:.3e}"


def selection_table(result: SelectionResult) -> Table:
    r = result.ranking
    direction = "higher = more familiar" if result.higher_is_better else "lower = more familiar"
    table = Table(
        title=f"{result.task}: strategies ranked by {result.scorer} under {result.target} ({result.dtype}) "
        f"(N={r.n} questions, {r.n_bootstrap} paired bootstrap resamples, seed {r.seed})",
        caption=f"mean = arithmetic mean of per-example {result.unit} ({direction}); 95% CI and P(best) from the bootstrap",
    )
    for col, justify in [("rank", "right"), ("strategy", "left"), ("mean", "right"), ("95% CI", "right"),
                         ("P(best)", "right"), ("mean NLL", "right"), ("median", "right"), ("tokens", "right")]:
        table.add_column(col, justify=justify)
    for e in r.estimates:
        table.add_row(str(e.rank), e.strategy, _fmt(e.mean), f"[{_fmt(e.ci_low)}, {_fmt(e.ci_high)}]",
                      f"{e.p_best:.2f}", _fmt(e.mean_nll), _fmt(e.median), f"{e.mean_tokens:.0f}")
    return table


def ranking_text(ranking) -> str:
    """'a > b = c': best first, '=' between strategies that share a rank."""
    text = ranking.estimates[0].strategy
    for before, e in zip(ranking.estimates, ranking.estimates[1:]):
        text += (" = " if e.rank == before.rank else " > ") + e.strategy
    return text


def verdict_lines(result: SelectionResult) -> list[str]:
    r = result.ranking
    if len(tied := r.tied_best) > 1:  # a tie is a tie: no pick, whatever the load order was
        shares = ", ".join(f"{e.strategy} {e.p_best:.2f}" for e in r.estimates if e.rank == 1)
        return [f"No pick at N={r.n}: {len(tied)} strategies tie for best ({', '.join(tied)}); "
                f"no difference observed between them (P(best): {shares})."]
    first, second = r.estimates[0].strategy, r.estimates[1].strategy
    mean, low, high = r.top_two_diff
    diff = f"{first} - {second} = {_fmt(mean)} [{_fmt(low)}, {_fmt(high)}] per example"
    if r.top_two_separated:
        return [f"Pick: {first} (separated from {second} at N={r.n}: {diff})."]
    more = f"about N={r.n_to_separate} questions would separate them" if r.n_to_separate else "no difference observed"
    return [f"Top two NOT separated at N={r.n}: {diff}; {more}.",
            f"Best estimate: {first} (P(best)={r.estimates[0].p_best:.2f})."]


def print_selection(result: SelectionResult, console: Console | None = None) -> None:
    console = console or Console()
    console.print(selection_table(result))
    for line in verdict_lines(result):
        console.print(line)
    for note in result.notes:
        console.print(f"[dim]note: {note}[/dim]")
    t = result.timings
    console.print(f"[dim]{result.computed} per-example scores computed, the rest from cache; "
                  f"load {t.get('load_model_s', 0):.1f}s, prepare {t.get('prepare_s', 0):.1f}s, "
                  f"score {t.get('score_s', 0):.1f}s, total {t.get('total_s', 0):.1f}s[/dim]")


def write_json(result: SelectionResult, path: str | Path) -> None:
    write_atomic(path, json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
