"""`stylefit bench ...`: the benchmark commands (mounted by stylefit.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from stylefit.bench.paper_data import DEFAULT_PAPER_BENCH, PAPER_BENCH_ENV
from stylefit.bench.paper_report import verdict
from stylefit.bench.paper_track import run_paper_track, write_results

bench_app = typer.Typer(help="Benchmarks of strategy selectors.", no_args_is_help=True)


@bench_app.callback()
def bench() -> None:
    """Benchmarks of strategy selectors."""  # a callback keeps `bench` a group of commands


@bench_app.command("paper")
def paper(
    data: Path = typer.Option(
        DEFAULT_PAPER_BENCH,
        "--data",
        envvar=PAPER_BENCH_ENV,
        help="paper-bench folder (relative to the current directory).",
    ),
    out: Path = typer.Option(Path("benchmarks/results"), "--out", help="where paper_track.md/.json go."),
) -> None:
    """Reproduce the paper's tables, judge every selector on its cases, write the results."""
    console = Console()
    results = run_paper_track(data)
    json_path, md_path = write_results(results, out)
    print_summary(console, results)
    console.print(f"wrote {md_path} and {json_path}")


def print_summary(console: Console, results: dict[str, Any]) -> None:
    for name, rep in results["reproduction"]["tables"].items():
        status = "[green]match[/green]" if rep["matches"] else f"[red]{rep['n_mismatches']} mismatches[/red]"
        console.print(f"reproduction of {name}: {status} ({rep['n_numbers_compared']} numbers, tolerance {rep['tolerance']})")
    judging = results["judging"]
    table = Table(title=f"Selectors vs fine-tuned accuracy: {judging['all']['n_cases']} cases (σ>4: "
                        f"{judging['sigma_gt_4']['n_cases']}); Δ = paired gap to the paper's SPPL; "
                        "intervals in paper_track.md")
    for column in ("selector", "cases", "ρ All", "Δρ All", "top-1 All", "Δtop-1 All",
                   "ρ σ>4", "Δρ σ>4", "top-1 σ>4", "Δtop-1 σ>4"):
        table.add_column(column, justify="left" if column == "selector" else "right")
    for name, row in judging["all"]["selectors"].items():
        cells = [name, str(row["n_cases"])]
        for subset in ("all", "sigma_gt_4"):
            r = judging[subset]["selectors"][name]
            f, gap = r["figures"], r["vs_reference"]["figures"]
            cells += [_number(f["weighted_spearman"], "{:.3f}"), _number(gap["weighted_spearman"], "{:+.3f}"),
                      _number(f["top1_accuracy_points"], "{:.2f}"), _number(gap["top1_accuracy_points"], "{:+.2f}")]
        table.add_row(*cells)
    console.print(table)
    console.print(verdict(results))


def _number(i: dict[str, Any], fmt: str) -> str:
    return "—" if i["estimate"] is None else fmt.format(i["estimate"])
