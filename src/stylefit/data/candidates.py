"""Candidate sets: one file (or saved dataset folder) per response-generation strategy, joined
to the task's questions.

A candidate folder holds ``<strategy>.jsonl``, ``<strategy>.jsonl.gz``, ``<strategy>.parquet``
or ``<strategy>/`` folders written by ``datasets.Dataset.save_to_disk``, and may hold the
``manifest.json`` that ``stylefit generate`` writes beside them and the ``<name>.routing.json``
that ``stylefit route`` writes beside a routed set; any other non-hidden entry is an error, not
skipped. Rows are plain
``{"id", "response", "question"?}``, chat (``messages``) or alpaca (``instruction``/``input``/
``output``), with a ``FieldMap`` naming the fields of plain rows (see ``stylefit.data.records``).

Joining a row to a task question, and the prompt the candidate answers:

- a row with an id is that question. Its prompt is the row's question where it has one (the
  prompt the response was written for: the paper's records score against their own prompts),
  else the task's rendered prompt ``task.prompt(q)``.
- a row without an id is matched by its question text, stripped, against every task question's
  raw ``question`` and its rendered prompt. Matching no question, or more than one, is an error.
  Matched on the rendered prompt, the prompt is the row's question (as with an id); matched only
  on the raw question, it is the task's rendered prompt: the row named the question, not the
  prompt, so the response is taken as an answer to the task's prompt.

Every strategy must cover exactly the same questions under the same prompts (whitespace aside), no question may come twice in a file
(by id or by question text), and no response may be empty: anything else is an error naming
the file and line (or row).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from stylefit.core.errors import StylefitError
from stylefit.data.records import FieldMap, Record, is_saved_dataset, normalize, place, read_records, row_format
from stylefit.data.task import Question, Task


@dataclass(frozen=True)
class Candidate:
    """One training target y for question x, written by one strategy."""

    id: str
    strategy: str
    prompt: str  # the user prompt x (task-rendered unless the file gave its own)
    response: str
    truncated: bool = False  # flagged by `generate`: still cut by the length limit; training leaves it out
    wrong: bool = False  # flagged by `generate`: wrong after every try and not fixed (correct=false, fixed=false)


def wrong_unfixed(row: dict) -> bool:
    """A row `generate` flagged wrong after every try and did not fix to gold."""
    return not row.get("correct", True) and not row.get("fixed", False)


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


def _question_index(task: Task) -> dict[str, tuple[set[str], set[str]]]:
    """Stripped text -> (ids whose raw question it is, ids whose rendered prompt it is)."""
    index: dict[str, tuple[set[str], set[str]]] = {}
    for q in task.train:
        index.setdefault(q.question.strip(), (set(), set()))[0].add(q.id)
        index.setdefault(task.prompt(q).strip(), (set(), set()))[1].add(q.id)
    return index


def _match(record: Record, task: Task, index: dict, where: str) -> tuple[Question, str]:
    """The task question a record answers, and the prompt it answers (see the module docstring)."""
    if record.id is not None:
        question = task.get(record.id)
        if question is None:
            raise StylefitError(f"{where}: id '{record.id}' is not a question of task '{task.name}'")
        return question, record.question if record.question is not None else task.prompt(question)
    raw, rendered = index.get(record.question.strip(), (set(), set()))
    ids = sorted(raw | rendered)
    if not ids:
        raise StylefitError(f"{where}: no id, and the question matches no question of task '{task.name}': "
                            f"{_clip(record.question, 80)}")
    if len(ids) > 1:
        raise StylefitError(f"{where}: no id, and the question matches {len(ids)} questions of task '{task.name}' "
                            f"({', '.join(ids[:5])}): give ids")
    question = task.get(ids[0])
    return question, record.question if rendered else task.prompt(question)


def _read_strategy(path: Path, strategy: str, task: Task, fields: FieldMap) -> dict[str, Candidate]:
    rows: dict[str, Candidate] = {}
    first: dict[str, str] = {}  # id -> where its row is
    index = _question_index(task)
    file_format = None
    for where, obj in read_records(path):
        fmt = row_format(obj)
        if file_format is None:
            file_format, first_where = fmt, where
        elif fmt != file_format:
            raise StylefitError(f"{where}: a {fmt} row in a {file_format} file ({place(first_where)} is {file_format})")
        record = normalize(obj, fmt, fields, where)
        question, prompt = _match(record, task, index, where)
        if question.id in first:
            how = "" if record.id is not None else " (matched by question text)"
            raise StylefitError(f"{where}: duplicate id '{question.id}'{how} (first on {place(first[question.id])})")
        first[question.id] = where
        truncated = obj.get("truncated", False)
        if not isinstance(truncated, bool):
            raise StylefitError(f"{where}: 'truncated' must be true or false, got {truncated!r}")
        rows[question.id] = Candidate(question.id, strategy, prompt, record.response, truncated, wrong_unfixed(obj))
    if not rows:
        raise StylefitError(f"{path}: no candidates")
    return rows


SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")
EXPECTED = "expected <strategy>.jsonl, .jsonl.gz or .parquet, or a <strategy>/ folder written by save_to_disk"


def strategy_name(path: Path) -> str:
    """The strategy a candidate file or saved dataset folder holds; anything else is an error, not skipped."""
    if is_saved_dataset(path):
        return path.name
    if path.is_file():
        for suffix in SUFFIXES:
            if path.name.endswith(suffix) and len(path.name) > len(suffix):
                return path.name[: -len(suffix)]
    raise StylefitError(f"{path}: not a candidate file ({EXPECTED})")


GENERATE_MANIFEST = "manifest.json"
ROUTED_PREFIX = "routed:"  # a routed set's name: routed:<scorer> (written by stylefit.selection.routing)
ROUTING_SUFFIX = ".routing.json"  # how a routed set was composed (stylefit.selection.routing)


def _describes_candidates(path: Path) -> bool:
    """A file that describes the candidate files beside it rather than holding one."""
    return path.name == GENERATE_MANIFEST or path.name.endswith(ROUTING_SUFFIX)


def load_candidates(task: Task, sources: list[str | Path] | str | Path, fields: FieldMap | None = None) -> CandidateSet:
    """Load strategies from a folder of candidate files (see the module docstring) or a list of
    them. A folder holding any other (non-hidden) entry is an error: nothing is silently left out.
    ``fields`` names the id, question and response fields of flat rows."""
    fields = fields or FieldMap()
    if isinstance(sources, (str, Path)):
        sources = [sources]
    files: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir() and not is_saved_dataset(source):
            found = sorted(p for p in source.iterdir() if not p.name.startswith(".") and not _describes_candidates(p))
            if not found:
                raise StylefitError(f"{source}: no candidate files in this folder ({EXPECTED})")
            files.extend(found)
        elif source.exists():
            files.append(source)
        else:
            raise StylefitError(f"{source}: no such file or folder")
    by_strategy: dict[str, dict[str, Candidate]] = {}
    for path in files:
        strategy = strategy_name(path)
        if strategy in by_strategy:
            raise StylefitError(f"{path}: strategy '{strategy}' given twice")
        by_strategy[strategy] = _read_strategy(path, strategy, task, fields)
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
        # ... and the same prompts: a score is conditioned on its prompt, so different prompts are not paired either.
        for qid, candidate in rows.items():
            if " ".join(candidate.prompt.split()) != " ".join(reference[qid].prompt.split()):
                raise StylefitError(f"strategy '{name}' answers id '{qid}' under another prompt than '{reference_name}' "
                                    f"({_clip(candidate.prompt, 50)} vs {_clip(reference[qid].prompt, 50)}): compared strategies must share prompts")
    order = [q.id for q in task.train if q.id in reference]
    return CandidateSet(task, order, by_strategy)


def _clip(text: str, width: int) -> str:
    """Text for an error message: on one line, quoted, cut after ``width`` characters."""
    text = " ".join(text.split())
    return f"'{text[:width]}{'...' if len(text) > width else ''}'"
