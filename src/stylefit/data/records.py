"""Rows from the files people already have, and the (id, question, response) each row says.

Sources (``read_records`` yields ``(where, row)`` for each row):

- JSONL, plain or gzipped: where = ``file:LINE`` (counted from 1);
- parquet (``*.parquet``, read with pyarrow): where = ``file:row N``;
- a folder written by ``datasets.Dataset.save_to_disk``: where = ``folder:row N``. A saved
  DatasetDict is an error naming its splits: save the one split meant.

Rows of parquet and saved datasets are counted from 0, as ``dataset[N]`` and ``df.iloc[N]`` do.

Candidate rows come in three formats, detected per row; every row of a file must have the
format of its first row, else an error names the line:

- chat: a ``messages`` list of ``{"role", "content"}``. The last message must be the
  assistant's: it is the response; the last user message is the question. System messages
  (and any earlier turns) are not part of the candidate.
- alpaca: ``instruction`` and ``output``; question = instruction, plus ``"\\n\\n" + input``
  where ``input`` is non-empty.
- flat: the fields a ``FieldMap`` names (default ``id``, ``response`` and optional ``question``).

An id is optional in every format (chat and alpaca rows use the mapped id field where they have
one): a row without one is matched to a task question by its question text (see
``stylefit.data.candidates``). An optional field (id, question, input) that is null counts as
absent, as parquet and datasets rows carry every column; a required field that is missing, null,
not a string or empty is an error naming the row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stylefit.core.errors import StylefitError
from stylefit.data.jsonl import read_jsonl, require_str


@dataclass(frozen=True)
class FieldMap:
    """Which fields of a flat row hold the id, the question and the response."""

    id: str = "id"
    question: str = "question"
    response: str = "response"

    def __post_init__(self) -> None:
        for name, value in (("id", self.id), ("question", self.question), ("response", self.response)):
            if not isinstance(value, str) or not value:
                raise StylefitError(f"field mapping: the {name} field must be a non-empty name, got {value!r}")


@dataclass(frozen=True)
class Record:
    id: str | None
    question: str | None
    response: str


def is_saved_dataset(path: Path) -> bool:
    """A folder written by ``save_to_disk`` (a Dataset or a DatasetDict)."""
    return path.is_dir() and any((path / name).is_file() for name in ("dataset_info.json", "state.json", "dataset_dict.json"))


def read_records(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, row) for every row of a JSONL file, a parquet file or a saved dataset folder."""
    path = Path(path)
    if path.is_dir():
        yield from _read_saved(path)
    elif path.name.endswith(".parquet"):
        yield from _read_parquet(path)
    else:
        for lineno, obj in read_jsonl(path):
            yield f"{path}:{lineno}", obj


def place(where: str) -> str:
    """``file:12`` -> ``line 12``, ``file:row 3`` -> ``row 3``."""
    tail = where.rpartition(":")[2]
    return f"line {tail}" if tail.isdigit() else tail


def _one_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"


def _read_parquet(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_file():
        raise StylefitError(f"{path}: file not found")
    row = 0
    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
            for obj in batch.to_pylist():
                yield f"{path}:row {row}", obj
                row += 1
    except (OSError, ValueError, pa.ArrowException) as e:
        raise StylefitError(f"{path}: unreadable parquet ({_one_line(e)})") from None


def _read_saved(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    if not is_saved_dataset(path):
        raise StylefitError(f"{path}: not a dataset folder written by save_to_disk (no dataset_info.json or state.json)")
    import datasets

    try:
        dataset = datasets.load_from_disk(str(path))
    except Exception as e:  # a library boundary: whatever it raises becomes one line naming the folder
        raise StylefitError(f"{path}: unreadable saved dataset ({_one_line(e)})") from None
    if isinstance(dataset, datasets.DatasetDict):
        raise StylefitError(f"{path}: a DatasetDict with splits {', '.join(dataset)}; give one split's folder "
                            "(save it with dataset_dict['<split>'].save_to_disk(...))")
    for row, obj in enumerate(dataset):
        yield f"{path}:row {row}", obj


def row_format(obj: dict[str, Any]) -> str:
    """chat | alpaca | flat (a null field counts as absent)."""
    if obj.get("messages") is not None:
        return "chat"
    if obj.get("instruction") is not None and obj.get("output") is not None:
        return "alpaca"
    return "flat"


def _optional_str(obj: dict[str, Any], field: str, where: str, *, allow_empty: bool = False) -> str | None:
    """An optional field: absent or null is None (parquet and datasets rows carry every column)."""
    return None if obj.get(field) is None else require_str(obj, field, where, allow_empty=allow_empty)


def normalize(obj: dict[str, Any], fmt: str, fields: FieldMap, where: str) -> Record:
    """The (id or None, question or None, response) a row of this format says; the response is
    never empty."""
    if fmt == "chat":
        question, response = _chat(obj["messages"], where)
    elif fmt == "alpaca":
        question = require_str(obj, "instruction", where)
        extra = _optional_str(obj, "input", where, allow_empty=True) or ""
        question += f"\n\n{extra}" if extra.strip() else ""
        response = require_str(obj, "output", where, allow_empty=True)
    else:
        question = _optional_str(obj, fields.question, where)
        response = require_str(obj, fields.response, where, allow_empty=True)
    qid = _optional_str(obj, fields.id, where)
    if qid is None and question is None:
        raise StylefitError(f"{where}: missing field '{fields.id}' (and no '{fields.question}' to match a task question by)")
    if not response.strip():
        raise StylefitError(f"{where}: empty response" + (f" for id '{qid}'" if qid is not None else ""))
    return Record(qid, question, response)


def _chat(messages: Any, where: str) -> tuple[str, str]:
    if not isinstance(messages, list) or not messages:
        raise StylefitError(f"{where}: field 'messages' must be a non-empty list of {{\"role\", \"content\"}}")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise StylefitError(f"{where}: messages[{i}] must be an object with 'role' and 'content'")
        require_str(m, "role", f"{where}: messages[{i}]")
        require_str(m, "content", f"{where}: messages[{i}]", allow_empty=True)
    if messages[-1]["role"] != "assistant":
        raise StylefitError(f"{where}: the last message must be the assistant's (the response), got role '{messages[-1]['role']}'")
    users = [m["content"] for m in messages[:-1] if m["role"] == "user"]
    if not users:
        raise StylefitError(f"{where}: no user message before the assistant's (the question)")
    if not users[-1].strip():
        raise StylefitError(f"{where}: the user message is empty")
    return users[-1], messages[-1]["content"]
