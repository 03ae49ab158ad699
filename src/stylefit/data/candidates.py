"""Candidate sets: one JSONL file (plain or gzipped) per response-generation strategy, joined by question id.

A line is ``{"id": "q0", "response": "..."}``, optionally with ``"question"``: the prompt the
response answers, when a strategy scored its responses against a prompt other than the task's
(the paper's records do this). Every strategy must cover exactly the same ids, every id must be
a question of the task, and no response may be empty: anything else is an error naming the
file and line.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from stylefit.data.jsonl import read_rows_with_ids, require_str
from stylefit.data.task import Task
from stylefit.errors import StylefitError


@dataclass(frozen=True)
class Candidate:
    """One training target y for question x, written by one strategy."""

    id: str
    strategy: str
    prompt: str  # the user prompt x (task-rendered unless the file gave its own)
    response: str


@dataclass
class CandidateSet:
    """K strategies x the same question ids, in the task's order."""

    task: Task
    ids: list[str]
    by_strategy: dict[str, dict[str, Candidate]]

    @property
    def strategies(self) -> list[str]:
        return list(self.by_strategy)

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {q: i for i, q in enumerate(self.ids)}

    def position(self, qid: str) -> int:
        """Index of a question among ``ids``: a stable place that does not depend on any sample."""
        return self._positions[qid]

    def candidates(self, strategy: str, ids: list[str] | None = None) -> list[Candidate]:
        rows = self.by_strategy[strategy]
        return [rows[i] for i in (self.ids if ids is None else ids)]


def _read_strategy(path: Path, strategy: str, task: Task) -> dict[str, Candidate]:
    rows: dict[str, Candidate] = {}
    for where, qid, obj in read_rows_with_ids(path):
        question = task.get(qid)
        if question is None:
            raise StylefitError(f"{where}: id '{qid}' is not a question of task '{task.name}'")
        response = require_str(obj, "response", where, allow_empty=True)
        if not response.strip():
            raise StylefitError(f"{where}: empty response for id '{qid}'")
        prompt = require_str(obj, "question", where) if "question" in obj else task.prompt(question)
        rows[qid] = Candidate(qid, strategy, prompt, response)
    if not rows:
        raise StylefitError(f"{path}: no candidates")
    return rows


SUFFIXES = (".jsonl", ".jsonl.gz")


def strategy_name(path: Path) -> str:
    """``<strategy>.jsonl`` or ``<strategy>.jsonl.gz`` -> strategy; any other file is an error, not skipped."""
    for suffix in SUFFIXES:
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return path.name[: -len(suffix)]
    raise StylefitError(f"{path}: not a candidate file (expected <strategy>.jsonl or <strategy>.jsonl.gz)")


def load_candidates(task: Task, sources: list[str | Path] | str | Path) -> CandidateSet:
    """Load strategies from a folder of ``<strategy>.jsonl`` / ``.jsonl.gz`` files or a list of
    files. A folder holding any other (non-hidden) file is an error: nothing is silently left out."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    files: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            found = sorted(p for p in source.iterdir() if not p.name.startswith("."))
            if not found:
                raise StylefitError(f"{source}: no candidate files (<strategy>.jsonl or .jsonl.gz) in this folder")
            files.extend(found)
        elif source.is_file():
            files.append(source)
        else:
            raise StylefitError(f"{source}: no such file or folder")
    by_strategy: dict[str, dict[str, Candidate]] = {}
    for path in files:
        strategy = strategy_name(path)
        if strategy in by_strategy:
            raise StylefitError(f"{path}: strategy '{strategy}' given twice")
        by_strategy[strategy] = _read_strategy(path, strategy, task)
    if len(by_strategy) < 2:
        raise StylefitError(f"need at least 2 strategies to rank, got {len(by_strategy)}: {', '.join(by_strategy)}")

    # Every strategy must answer the same questions: a ranking over different questions is not paired.
    reference_name, reference = next(iter(by_strategy.items()))
    for name, rows in by_strategy.items():
        missing = [i for i in reference if i not in rows]
        extra = [i for i in rows if i not in reference]
        if missing or extra:
            which, ids = ("lacks", missing) if missing else ("has extra", extra)
            raise StylefitError(
                f"strategy '{name}' {which} {len(ids)} id(s) compared with '{reference_name}' (e.g. '{ids[0]}')"
            )
    order = [q.id for q in task.train if q.id in reference]
    return CandidateSet(task, order, by_strategy)
