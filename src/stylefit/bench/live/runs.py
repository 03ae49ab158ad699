"""The committed run files: the results store mirrored into one JSON file per fine-tuning run, so
that a fresh machine resumes a case from what was committed and a long grid commits as it goes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stylefit.core.errors import StylefitError
from stylefit.core.store import Store
from stylefit.data.jsonl import write_atomic
from stylefit.training.grid import RUN_KIND, GridPlan


class CommittedRuns(Store):
    """The results store, mirrored into one JSON file per fine-tuning run in ``folder``: files
    found there are loaded first (so a fresh machine resumes from what was committed), and every
    run the grid finishes is written there as it finishes."""

    def __init__(self, path: str | Path | None, folder: Path, say: Callable[[str], None] = lambda line: None):
        super().__init__(path)
        self.folder = folder
        self.say = say  # a line per run written: a long grid in a log shows where it stands
        loaded = {}
        for file in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                loaded[file.stem] = json.loads(file.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise StylefitError(f"{file}: not valid JSON ({e.msg}); remove it to run it again") from None
        stored = self.present(loaded)
        if len(stored) < len(loaded):  # runs made elsewhere (another machine, a GPU) join this store
            super().put_many(RUN_KIND, {k: v for k, v in loaded.items() if k not in stored})

    def put_many(self, kind: str, items: dict[str, Any], seconds: float | None = None) -> None:
        super().put_many(kind, items, seconds)
        if kind == RUN_KIND:
            for key, value in items.items():
                write_atomic(self.folder / f"{key}.json", json.dumps(value, indent=1, ensure_ascii=False) + "\n")
                reused = value.get("reused")
                copied = reused and reused.get("strategy")  # another strategy's run, whose file stays
                if reused and not copied:  # the same run under a larger budget: its file replaces the earlier one
                    (self.folder / f"{reused['key']}.json").unlink(missing_ok=True)
                how = (f"the run of {copied} (the same training examples)" if copied else "taken over" if reused else "stored")
                e = value["evaluation"]
                self.say(f"{value['label']}: {how}, accuracy {100 * e['accuracy_strict']:.1f}%, "
                         f"{e['hit_length_limit']} of {e['n']} answers cut, {value['timings'].get('total_s', 0) / 60:.1f} min on {value['device']}")


def planned(case: str, folder: Path, plan: GridPlan, say: Callable[[str], None]) -> None:
    """Say a case's plan, and prune its superseded runs before any new one runs: a grid stopped
    halfway leaves the folder with runs of the current settings only (one per strategy and seed)."""
    say(f"{case}: {plan.line()}")
    if removed := prune(folder, set(plan.keys)):
        say(f"{case}: removed {removed} superseded run file(s) (the case's settings or candidates changed; git keeps them)")


def prune(folder: Path, keys: set[str]) -> int:
    """Remove the run files in ``folder`` that the case's current grid no longer asks for: the folder
    holds the runs of the settings it is judged on, never two runs of one strategy and seed."""
    stale = [f for f in folder.glob("*.json") if f.stem not in keys]
    for f in stale:
        f.unlink()
    return len(stale)


def latest_runs(folder: Path, strategies: list[str]) -> dict[str, dict[str, Any]]:
    """Each strategy's latest committed run in ``folder`` (by when it finished): runs made for a case's
    earlier candidate sets stay beside those for its current ones, which are made after them."""
    latest: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        run = json.loads(path.read_text(encoding="utf-8"))
        if run["strategy"] in strategies and run["finished_at"] > latest.get(run["strategy"], {}).get("finished_at", ""):
            latest[run["strategy"]] = run
    return latest
