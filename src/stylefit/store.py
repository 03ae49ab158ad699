"""Content-addressed cache of expensive results (per-example scores, target generations).

Every value is stored under the SHA-256 of a canonical JSON of *everything it depends on*
(model revision, chat template, scorer name/version/params, prompt text, response text,
sampling seed ...), so a rerun recomputes nothing and a killed run resumes from what was
committed. One SQLite file, written in small transactions; safe to read while another process
writes (WAL).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def stylefit_home() -> Path:
    """Root of stylefit's caches: $STYLEFIT_HOME, default ~/.cache/stylefit."""
    return Path(os.environ.get("STYLEFIT_HOME", Path.home() / ".cache" / "stylefit")).expanduser()


def content_key(depends_on: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a result's dependencies."""
    blob = json.dumps(depends_on, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class Store:
    """A key -> JSON value table, grouped by kind ('score', 'generation', ...)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else stylefit_home() / "cache.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, kind TEXT NOT NULL, value TEXT NOT NULL)"
        )
        self._db.commit()
        self.hits = 0
        self.misses = 0

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """Values of the keys that are present; counts hits and misses."""
        keys = list(keys)
        found: dict[str, Any] = {}
        for start in range(0, len(keys), 500):  # SQLite's host-parameter limit
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, value in self._db.execute(f"SELECT key, value FROM results WHERE key IN ({marks})", chunk):
                found[key] = json.loads(value)
        self.hits += len(found)
        self.misses += len(set(keys)) - len(found)
        return found

    def put_many(self, kind: str, items: Mapping[str, Any]) -> None:
        """Store values in one transaction: after a kill, a batch is either all there or absent."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO results (key, kind, value) VALUES (?, ?, ?)",
                [(k, kind, json.dumps(v, ensure_ascii=False)) for k, v in items.items()],
            )

    def count(self, kind: str | None = None) -> int:
        if kind is None:
            return self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM results WHERE kind = ?", (kind,)).fetchone()[0]

    def close(self) -> None:
        self._db.close()
