"""A task: questions with gold answers, the prompt that asks them, and the verifier that checks them.

On disk a task is a folder (or a path to its ``task.json``)::

    task.json   {"name": ..., "verifier": "final_answer_number",
                 "prompt_template": "{question}\\n\\nPlease provide ... 'Final Answer:'",
                 "train": "train.jsonl", "test": "test.jsonl"}
    train.jsonl {"id": "q0", "question": "...", "gold": "42", "metadata": {...}}   one per line

``train`` holds the questions whose candidates are scored (and whose first M questions the
target answers zero-shot for SPPL's self-exemplars); ``test`` is optional and used for
fine-tuning evaluation. Either may also be a parquet file or a folder written by
``datasets.Dataset.save_to_disk``, and an optional ``"fields": {"id": "uid", "question":
"prompt", "gold": "answer"}`` names the row fields where they are not ``id``/``question``/``gold``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stylefit.core.errors import StylefitError
from stylefit.data.jsonl import require_str
from stylefit.data.records import place, read_records
from stylefit.data.verifiers import Verifier, get_verifier


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    gold: str
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


class TaskFields(BaseModel):
    """Which row fields hold a question's id, text and gold answer."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field("id", min_length=1)
    question: str = Field("question", min_length=1)
    gold: str = Field("gold", min_length=1)


class TaskSpec(BaseModel):
    """The schema of task.json."""

    model_config = ConfigDict(extra="forbid")
    name: str
    verifier: str | None = None
    prompt_template: str = "{question}"
    train: str = "train.jsonl"
    test: str | None = None
    fields: TaskFields = TaskFields()


@dataclass
class Task:
    name: str
    prompt_template: str
    train: list[Question]
    test: list[Question]
    verifier_name: str | None = None
    source: str = "<memory>"

    def __post_init__(self) -> None:
        if "{question}" not in self.prompt_template:
            raise StylefitError(f"{self.source}: prompt_template must contain '{{question}}'")
        self._by_id = {q.id: q for q in self.train}

    def prompt(self, question: Question) -> str:
        """The user prompt that asks this question (with the task's answer-format instruction)."""
        return self.prompt_template.replace("{question}", question.question)

    def get(self, qid: str) -> Question | None:
        return self._by_id.get(qid)

    @property
    def verifier(self) -> Verifier:
        """The task's verifier; a clear error where the task names none."""
        if self.verifier_name is None:
            raise StylefitError(f"task '{self.name}' ({self.source}) names no verifier, and this step needs one")
        return get_verifier(self.verifier_name)


def _read_questions(path: Path, fields: TaskFields) -> list[Question]:
    """The questions of a JSONL file, a parquet file or a saved dataset folder."""
    questions: list[Question] = []
    first: dict[str, str] = {}
    for where, obj in read_records(path):
        qid = require_str(obj, fields.id, where)
        if qid in first:
            raise StylefitError(f"{where}: duplicate id '{qid}' (first on {place(first[qid])})")
        first[qid] = where
        metadata = obj.get("metadata")
        metadata = {} if metadata is None else metadata  # absent, or null in a parquet/datasets column
        if not isinstance(metadata, dict):
            raise StylefitError(f"{where}: field 'metadata' must be an object")
        questions.append(
            Question(qid, require_str(obj, fields.question, where), require_str(obj, fields.gold, where), metadata)
        )
    if not questions:
        raise StylefitError(f"{path}: no questions")
    return questions


def load_task(path: str | Path) -> Task:
    """Load and validate a task folder (or its task.json)."""
    path = Path(path)
    spec_path = path / "task.json" if path.is_dir() else path
    if not spec_path.is_file():
        raise StylefitError(f"{spec_path}: task file not found")
    try:
        spec = TaskSpec.model_validate(json.loads(spec_path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as e:
        raise StylefitError(f"{spec_path}:{e.lineno}: not valid JSON ({e.msg})") from None
    except ValidationError as e:
        first = e.errors()[0]
        raise StylefitError(f"{spec_path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    if spec.verifier is not None:
        get_verifier(spec.verifier)  # unknown names fail at load time, not after an hour of scoring
    root = spec_path.parent
    train = _read_questions(root / spec.train, spec.fields)
    test = _read_questions(root / spec.test, spec.fields) if spec.test else []
    _check_disjoint(train, test, spec_path)
    return Task(name=spec.name, prompt_template=spec.prompt_template, train=train, test=test, verifier_name=spec.verifier,
                source=str(spec_path))


def _check_disjoint(train: list[Question], test: list[Question], spec_path: Path) -> None:
    """A test question also trained on (same id, or same text up to whitespace) inflates every accuracy measured on it."""
    text = lambda q: " ".join(q.question.split())
    by_id, by_text = {q.id for q in train}, {text(q): q.id for q in train}
    for q in test:
        if q.id in by_id or text(q) in by_text:
            same = sum(t.id in by_id or text(t) in by_text for t in test)
            how = f"id '{q.id}'" if q.id in by_id else f"test id '{q.id}' has the text of training id '{by_text[text(q)]}'"
            raise StylefitError(f"{spec_path}: {same} test question(s) also in the training split (first: {how}); "
                                "the splits must be disjoint")
