"""Present a selection (and the adaptive selector's stages): rich tables for the terminal, JSON for machines."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from stylefit.data.jsonl import write_atomic
from stylefit.selection.adaptive import AdaptiveResult
from stylefit.selection.select import SelectionResult


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.4g}" if abs(x) < 1e4 else f"{x:.3e}"


def selection_table(result: SelectionResult) -> Table:
    r = result.ranking
    direction = "higher = preferred" if result.higher_is_better else "lower = preferred"  # familiarity or, for the proxies, learnability
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


def shortfall_line(result: SelectionResult) -> str:
    """How many of the asked questions the scorer used (a proxy: trained on), where some were left out ('' where none was)."""
    if result.n_used >= result.n_asked:
        return ""
    used = "trained on" if result.scorer == "proxy" else "scored"  # a proxy scores held-out questions, not its sample
    return (f"[yellow]{used.capitalize()} {result.n_used} of the {result.n_asked} questions asked:[/yellow] "
            f"{result.n_asked - result.n_used} have a response cut, excluded by the scorer or too long in at least one "
            "strategy, and are left out for every strategy so that the strategies stay paired.")


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
    for line in filter(None, [shortfall_line(result), *verdict_lines(result)]):
        console.print(line)
    for note in result.notes:
        console.print(f"[dim]note: {note}[/dim]")
    t = result.timings
    unit = "fine-tunes" if "runs_s" in t else "per-example scores"  # a proxy counts its runs, not its scores
    console.print(f"[dim]{result.computed} {unit} computed, the rest from cache; "
                  f"load {t.get('load_model_s', 0):.1f}s, prepare {t.get('prepare_s', 0):.1f}s, "
                  f"score {t.get('score_s', 0):.1f}s, total {t.get('total_s', 0):.1f}s"
                  + (f"; its fine-tunes cost {t['runs_s']:.1f}s where they ran, stored ones included" if "runs_s" in t else "")
                  + (f"; {'at least ' if result.unrecorded else ''}{t['cold_s']:.1f}s with nothing cached" if "cold_s" in t else "")
                  + (f" ({result.unrecorded} cached values were stored before their cost was recorded)" if result.unrecorded else "")
                  + "[/dim]")


def write_json(result: SelectionResult, path: str | Path) -> None:
    write_atomic(path, json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")


STAGE_COLUMNS = ["rank", "strategy", "mean", "95% CI", "P(best)", "behind the leader (paired)", ""]


def stage_rows(stage) -> list[list[str]]:
    """One adaptive-selector stage's table: per strategy its estimate, its paired gap to the leader, and what became of it."""
    return [[str(row["rank"]), row["strategy"], _fmt(row["mean"]), f"[{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]",
             f"{row['p_best']:.2f}", f"{_fmt(row['diff'])} [{_fmt(row['diff_low'])}, {_fmt(row['diff_high'])}]",
             "goes on" if row["strategy"] in stage.kept else f"dropped: {stage.dropped.get(row['strategy'], '')}"]
            for row in stage.table]


def stage_caption(stage) -> str:
    return (f"{stage.cost.seconds:.1f} s, {stage.cost.steps} fine-tune steps, {stage.cost.tokens} tokens; "
            f"{stage.computed} fine-tunes run now")


def adaptive_lines(result: AdaptiveResult) -> list[str]:
    """The adaptive selector's decision and what it spent, in two sentences."""
    pick = f"Pick: {result.best}" if result.best else f"No pick: {', '.join(result.tied_best)} tie for best"
    c, full = result.cost, result.proxy_on_all
    return [f"{pick} (P(best)={result.p_best:.2f}); stopped: {result.stopped}.",
            f"Spent {c.seconds:.1f} s, {c.steps} fine-tune steps, {c.tokens} tokens; the last round's proxy on every "
            f"strategy: {full.steps} steps, about {full.seconds:.0f} s here."]


def print_adaptive(result: AdaptiveResult, console: Console | None = None) -> None:
    """Each stage of the adaptive selector (what went on, what was dropped and why), then its pick and its cost."""
    console = console or Console()
    for stage in result.stages:
        table = Table(title=f"{result.task}: {stage.name}", caption=stage_caption(stage))
        for col in STAGE_COLUMNS:
            table.add_column(col, justify="left" if col in ("strategy", "") else "right")
        for row in stage_rows(stage):
            table.add_row(*row)
        console.print(table)
        for note in stage.notes:
            console.print(f"[dim]note: {note}[/dim]")
    for line in adaptive_lines(result):
        console.print(line)


def write_adaptive_json(result: AdaptiveResult, path: str | Path) -> None:
    write_atomic(path, json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
