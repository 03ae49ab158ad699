"""JSONL reading and atomic writing that name the file and line of every problem."""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stylefit.core.errors import StylefitError
from stylefit.core.processes import alive


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for every non-blank line of a .jsonl or .jsonl.gz file; a bad
    line or an unreadable file is a StylefitError naming it."""
    path = Path(path)
    if not path.is_file():
        raise StylefitError(f"{path}: file not found")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise StylefitError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
                if not isinstance(obj, dict):
                    raise StylefitError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
                yield lineno, obj
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
        raise StylefitError(f"{path}: unreadable ({type(e).__name__}: {e})") from None


def require_str(obj: dict[str, Any], field: str, where: str, *, allow_empty: bool = False) -> str:
    """obj[field] as a string (ints are accepted for ids); a clear error otherwise."""
    if field not in obj:
        raise StylefitError(f"{where}: missing field '{field}'")
    value = obj[field]
    if value is None:
        raise StylefitError(f"{where}: field '{field}' is null")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise StylefitError(f"{where}: field '{field}' must be a string, got {type(value).__name__}")
    value = str(value)
    if not allow_empty and not value.strip():
        raise StylefitError(f"{where}: field '{field}' is empty")
    return value


def write_atomic(path: str | Path, text: str) -> None:
    """Write text to path via a temporary file and rename: never a half-written file. A temporary
    file left beside it by a writer that was killed is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        pid = stale.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not alive(int(pid)):
            stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would make results unreadable to others
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path: str | Path, rows: list[dict[str, Any]]) -> None:
    write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
