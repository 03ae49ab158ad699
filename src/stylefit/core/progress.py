"""Progress bars on stderr, one per stage: what the commands (``stylefit ...``, ``stylefit bench ...``) show."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.text import Text

err = Console(stderr=True)


class TokensPerSecond(ProgressColumn):
    """Generated tokens per second of a stage that reports them (generation stages do)."""

    def render(self, task) -> Text:
        tokens = task.fields.get("tokens")
        if tokens is None or not task.elapsed:
            return Text("")
        return Text(f"{tokens / task.elapsed:,.0f} tok/s", style="progress.data.speed")


@contextmanager
def stage_progress() -> Iterator[Callable[..., None]]:
    """A rich progress bar per stage on stderr; yields the API's progress(stage, total, advance, tokens=None)."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), TokensPerSecond(), console=err, transient=False) as bar:
        stages: dict[str, int] = {}

        def progress(stage: str, total: int, advance: int, tokens: int | None = None) -> None:
            if stage not in stages:
                stages[stage] = bar.add_task(stage, total=total, tokens=None)
            bar.update(stages[stage], total=total, advance=advance, **({} if tokens is None else {"tokens": tokens}))

        yield progress


def labelled(progress: Callable[..., None] | None, label: str) -> Callable[..., None] | None:
    """``progress`` with its stages named under ``label``: a bar is keyed by its stage's name, so two jobs in
    one process that report the same stage (two selectors on one scorer, two cases' runs) get a bar each
    instead of adding into one (504/252)."""
    if progress is None:
        return None
    return lambda stage, *args, **kwargs: progress(f"{label}: {stage}", *args, **kwargs)
