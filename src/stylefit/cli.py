"""The `stylefit` command line: a thin typer layer over the Python API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import click
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from stylefit.bench.cli import bench_app
from stylefit.errors import StylefitError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Pick the response-generation strategy your target model learns best from.")
# Piped output gets a wide table rather than rich's 80-column default.
console = Console() if sys.stdout.isatty() else Console(width=140)
err = Console(stderr=True)


@app.command()
def select(
    task: Path = typer.Argument(..., help="Task folder (with task.json) or the task.json itself."),
    candidates: list[Path] = typer.Argument(..., help="Folder of <strategy>.jsonl files, or the files."),
    model: str = typer.Option("smollm2-135m-instruct", "--model", "-m", help="Registered name, local HF folder or hub id."),
    scorer: str = typer.Option("sppl", "--scorer", "-s", help="ppl | ifd | length | sppl"),
    n: int = typer.Option(50, "--n", help="Questions to score per strategy."),
    sample_seed: Optional[int] = typer.Option(None, "--sample-seed", help="Draw the N questions at random with this seed (default: the first N)."),
    k: int = typer.Option(3, "--k", help="sppl: self-exemplars per candidate."),
    m: int = typer.Option(100, "--m", help="sppl: training questions the target answers zero-shot for exemplars."),
    variant: str = typer.Option("native", "--variant", help="sppl: 'native' (target's chat template) or 'paper' (the authors' [INST] wrapper)."),
    template: str = typer.Option("native", "--template", help="ppl/ifd: native | paper | plain."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the result as JSON here."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="SQLite cache file (default $STYLEFIT_HOME/cache.sqlite)."),
    skip_overlong: bool = typer.Option(False, "--skip-overlong", help="Drop (and count) questions longer than the context instead of failing."),
    bootstrap: int = typer.Option(2000, "--bootstrap", help="Paired bootstrap resamples."),
) -> None:
    """Rank strategies by predicted fine-tuning benefit for the target model."""
    from stylefit.api import select as run_select
    from stylefit.report import print_selection, write_json

    params = {"sppl": {"k": k, "m": m, "variant": variant}, "ppl": {"template": template}, "ifd": {"template": template}}.get(scorer, {})
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=err, transient=False) as bar:
        stages: dict[str, int] = {}

        def progress(stage: str, total: int, advance: int) -> None:
            if stage not in stages:
                stages[stage] = bar.add_task(stage, total=total)
            bar.advance(stages[stage], advance)

        result = run_select(task, candidates, target=model, scorer=scorer, scorer_params=params, n=n,
                            sample_seed=sample_seed, store=cache, skip_overlong=skip_overlong,
                            n_bootstrap=bootstrap, progress=progress)
    print_selection(result, console)
    if out is not None:
        write_json(result, out)
        console.print(f"wrote {out}")


@app.command()
def models() -> None:
    """List the registered offline models."""
    from stylefit.models.registry import REGISTRY

    for m in REGISTRY.values():
        console.print(f"{m.name:32s} {m.note}  [dim](extra: {m.extra})[/dim]")


@app.command()
def scorers() -> None:
    """List the registered scorers."""
    from stylefit.scoring import get_scorer, scorer_names

    for name in scorer_names():
        s = get_scorer(name)
        console.print(f"{name:8s} {type(s).__doc__.strip().splitlines()[0]}  [dim]({s.unit}, "
                      f"{'higher' if s.higher_is_better else 'lower'} = more familiar)[/dim]")


app.add_typer(bench_app, name="bench")


def main() -> None:
    """Entry point: every StylefitError, from any command, becomes one line on stderr and exit 2."""
    try:
        app(standalone_mode=False)
    except StylefitError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
    except click.exceptions.ClickException as e:
        e.show()
        raise SystemExit(e.exit_code) from None
    except click.exceptions.Abort:
        raise SystemExit(130) from None
    except click.exceptions.Exit as e:
        raise SystemExit(e.exit_code) from None
