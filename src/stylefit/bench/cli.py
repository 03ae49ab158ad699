"""`stylefit bench ...`: the benchmark commands (mounted by stylefit.cli)."""

from __future__ import annotations

import json

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stylefit.bench.paper.data import DEFAULT_PAPER_BENCH, PAPER_BENCH_ENV
from stylefit.bench.paper.report import verdict
from stylefit.bench.paper.track import N_DRAWS, reproduction_failures, run_paper_track, write_results
from stylefit.core.errors import StylefitError
from stylefit.selection import quality as sq

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
    resamples: int = typer.Option(sq.N_RESAMPLES, "--resamples", min=1, help="bootstrap resamples over cases."),
    draws: int = typer.Option(N_DRAWS, "--draws", min=1, help="random item sets per sample size (the curve)."),
    report_dir: Path = typer.Option(None, "--report", help="Also write paper_track.html (figures inline) into this folder."),
) -> None:
    """Reproduce the paper's tables, judge every selector on its cases, write the results.
    Exits non-zero (after writing them) if a reproduction that could run does not match."""
    console = Console()
    results = run_paper_track(data, n_resamples=resamples, n_draws=draws)
    json_path, md_path = write_results(results, out)
    if report_dir is not None:
        from stylefit.bench.paper.html import write_paper_report

        console.print(f"wrote {write_paper_report(json.loads(json_path.read_text(encoding='utf-8')), report_dir)}")
    print_summary(console, results)
    console.print(f"wrote {md_path} and {json_path}")
    failures = reproduction_failures(results)
    if failures:
        raise StylefitError(f"reproduction does not match: {'; '.join(failures)}; see {md_path}")


def print_summary(console: Console, results: dict[str, Any]) -> None:
    reproduction = results["reproduction"]
    for name, rep in reproduction["tables"].items():
        if "skipped" in rep:
            console.print(f"reproduction of {name}: [yellow]skipped[/yellow]: {escape(rep['skipped'])}")
            continue
        status = "[green]match[/green]" if rep["matches"] else f"[red]{rep['n_mismatches']} mismatches[/red]"
        console.print(f"reproduction of {name}: {status} ({rep['n_numbers_compared']} numbers, tolerance {rep['tolerance']})")
        for benchmark, why in rep.get("skipped_benchmarks", {}).items():
            console.print(f"reproduction of {name}, {benchmark} tables: [yellow]skipped[/yellow]: "
                          f"{escape(why)}")
    if "skipped" in reproduction["paper_formula_sppl"]:
        why = reproduction["paper_formula_sppl"]["skipped"]
        console.print(f"paper-formula SPPL figures: [yellow]skipped[/yellow]: {escape(why)}")
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
    for subset, block in judging.items():
        if block["not_computed"]:
            console.print(f"subset {subset}: {escape(block['not_computed'])}")
    curve = results["settings"]["sample_size_curve"]
    if curve["not_computed"]:
        console.print(f"sample-size curve: {escape(curve['not_computed'])}")
    elif curve["missing_cases"]:
        console.print(f"sample-size curve: {len(curve['missing_cases'])} cases without per-example SPPL left out")
    console.print(verdict(results))


def _number(i: dict[str, Any], fmt: str) -> str:
    return "—" if i["estimate"] is None else fmt.format(i["estimate"])


@bench_app.command("live")
def live(
    config: Path = typer.Argument(..., help="Live-track TOML: cases (task, target, strategies), seeds, recipe, selectors."),
    case: list[str] = typer.Option([], "--case", help="Run only these cases (repeat); judging always reads every case."),
    stage: list[str] = typer.Option([], "--stage", help="candidates | truth | selectors (repeat; default all)."),
    selector: list[str] = typer.Option([], "--selector", help="Run only these selectors (repeat); judging reads every one."),
    workers: int = typer.Option(1, "--workers", help="Fine-tuning runs at once in processes here (several small runs share one GPU)."),
    judge_only: bool = typer.Option(False, "--judge-only", help="Compute nothing: judge what is committed."),
    out: Path = typer.Option(Path("benchmarks/results"), "--out", help="where live_track.md/.json go."),
    cache: Path = typer.Option(None, "--cache", help="SQLite cache (default $STYLEFIT_HOME/cache.sqlite)."),
    report_dir: Path = typer.Option(None, "--report", help="Also write live_track.html (figures inline) into this folder."),
) -> None:
    """Generate, fine-tune on every strategy (the ground truth), score with every selector, judge; resumable."""
    from stylefit.bench.live.config import load_live_config
    from stylefit.bench.live.judge import judge
    from stylefit.bench.live.track import run_live
    from stylefit.bench.live.report import write_live
    from stylefit.core.progress import stage_progress

    console, err = Console(), Console(stderr=True)
    known = ("candidates", "truth", "selectors")
    if bad := [s for s in stage if s not in known]:
        raise StylefitError(f"unknown stage '{bad[0]}' (known: {', '.join(known)})")
    settings = load_live_config(config)
    if judge_only:
        track = judge(settings)
    else:
        with stage_progress() as progress:
            track = run_live(settings, cases=case or None, stages=tuple(stage) or known, store=cache,
                             selectors=selector or None, workers=workers, say=lambda line: err.print(f"[bold]{escape(line)}[/bold]"), progress=progress)
    json_path, md_path = write_live(track, out)
    if report_dir is not None:
        from stylefit.bench.live.html import write_live_report

        console.print(f"wrote {write_live_report(track, report_dir)}")
    for line in track["incomplete"]:
        console.print(f"[dim]not judged: {escape(line)}[/dim]")
    console.print(f"{track['judged_cases']} case(s) judged; wrote {md_path} and {json_path}")
