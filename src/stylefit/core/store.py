"""Content-addressed cache of expensive results (per-example scores, target generations).

Every value is stored under the SHA-256 of a canonical JSON of *everything it depends on*
(model revision, chat template, scorer name/version/params, prompt text, response text,
sampling seed ...), so a rerun recomputes nothing and a killed run resumes from what was
committed. One SQLite file, written in small transactions; safe to read while another process
writes (WAL). Each row records which process wrote it, when, and how many times it was written
(more than once means a result was computed again: what kill and concurrency checks count), and
what computing it cost, in seconds, where its writer said: a ``ledger`` adds up the cost of every value
a piece of work used, so work served from the cache still states what it would cost cold.

Processes sharing a store share its work: a unit of work (a block of scores, a batch of
generations, a fine-tuning run) is *claimed* before it is computed, and a unit another live process
has claimed is waited for and read, not computed twice (``compute_claimed``). A claim ends when its
holder releases it, dies (same host: its pid is gone) or stops renewing it: a live holder renews its
leases every ``RENEW_S``, so the claim of a process on another host (a container restarted under a new
name) lapses within ``LEASE_S`` of its end. ``stylefit claims`` lists claims and releases a holder's.
SQLite over a network file system is unsafe, so one store serves the processes of one machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stylefit.core.processes import alive

LEASE_S = 120.0  # a claim lapses this long after its holder last renewed it; a dead holder's is taken at once
RENEW_S = 20.0  # how often a holder renews its claims
POLL_S = 0.5
WAIT_TELL_S = 60.0  # a wait on another process's claim is said at once, then every minute


def stylefit_home() -> Path:
    """Root of stylefit's caches: $STYLEFIT_HOME, default ~/.cache/stylefit."""
    return Path(os.environ.get("STYLEFIT_HOME", Path.home() / ".cache" / "stylefit")).expanduser()


def content_key(depends_on: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a result's dependencies."""
    blob = json.dumps(depends_on, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class Ledger:
    """The stored values one piece of work used (read or computed), with what each cost when computed."""

    kinds: frozenset[str]  # the kinds of value it counts
    used: dict[str, float | None] = field(default_factory=dict)  # key -> compute seconds (None: its writer did not say)
    computed_s: float = 0.0  # the seconds of those computed while it was open, by this process

    @property
    def work_s(self) -> float:
        """What computing every value used would cost, as far as their writers said."""
        return sum(s for s in self.used.values() if s is not None)

    @property
    def unrecorded(self) -> int:
        """Values used whose compute seconds are unknown (stored before stores recorded them): ``work_s`` leaves them out."""
        return sum(s is None for s in self.used.values())

    def cold_s(self, elapsed_s: float) -> float:
        """A piece of work's own clock, ``elapsed_s``, with the values it computed swapped for what every value
        it used cost: what it would take with nothing cached (leaving out the ``unrecorded`` ones)."""
        return elapsed_s - self.computed_s + self.work_s


class Store:
    """A key -> JSON value table, grouped by kind ('score', 'generation', ...)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else stylefit_home() / "cache.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A writer waits up to 10 min for another's transaction (they last milliseconds) rather than
        # failing with "database is locked".
        self._db = sqlite3.connect(self.path, timeout=600)
        self._use_wal()
        with self._db:
            self._db.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, kind TEXT NOT NULL, value TEXT NOT NULL,"
                             " writer TEXT, written_at REAL, writes INTEGER NOT NULL DEFAULT 1)")
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(results)")}
            for column, kind in (("writer", "TEXT"), ("written_at", "REAL"), ("writes", "INTEGER NOT NULL DEFAULT 1"),
                                 ("seconds", "REAL")):  # older stores
                if column not in columns:
                    self._add_column("results", column, kind)
            self._db.execute("CREATE TABLE IF NOT EXISTS claims (unit TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL,"
                             " since REAL)")
        if "since" not in {row[1] for row in self._db.execute("PRAGMA table_info(claims)")}:  # an older store
            self._add_column("claims", "since", "REAL")
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._held: dict[str, float] = {}  # unit -> lease, the claims this store renews
        self._held_lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.hits = 0
        self.misses = 0
        self.written: Counter[str] = Counter()  # rows put by this process, per kind
        self._ledgers: list[Ledger] = []  # the open ones, innermost last

    def _add_column(self, table: str, column: str, kind: str) -> None:
        try:
            with self._db:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        except sqlite3.OperationalError as e:  # another process opening it added it first
            if "duplicate column" not in str(e):
                raise

    def _use_wal(self) -> None:
        """Switch a new store to WAL. Two processes creating it at once may find it locked, and
        SQLite answers this pragma at once instead of waiting: retry, for as long as a writer waits."""
        end = time.monotonic() + 600
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > end:
                    raise
                time.sleep(0.05)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """Values of the keys that are present; counts hits and misses."""
        keys = list(keys)
        found: dict[str, Any] = {}
        for start in range(0, len(keys), 500):  # SQLite's host-parameter limit
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, kind, value, seconds in self._db.execute(f"SELECT key, kind, value, seconds FROM results WHERE key IN ({marks})", chunk):
                found[key] = json.loads(value)
                self._note(kind, {key: seconds})
        self.hits += len(found)
        self.misses += len(set(keys)) - len(found)
        return found

    def put_many(self, kind: str, items: Mapping[str, Any], seconds: float | None = None) -> None:
        """Store values in one transaction: after a kill, a batch is either all there or absent.
        ``seconds``: what computing the batch cost, shared equally by its values (None: not said)."""
        now = time.time()
        each = None if seconds is None or not items else seconds / len(items)
        with self._db:
            self._db.executemany(
                "INSERT INTO results (key, kind, value, writer, written_at, seconds) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key)"
                " DO UPDATE SET kind = excluded.kind, value = excluded.value, writer = excluded.writer,"
                " written_at = excluded.written_at, seconds = excluded.seconds, writes = writes + 1",
                [(k, kind, json.dumps(v, ensure_ascii=False), self.owner, now, each) for k, v in items.items()],
            )
        self.written[kind] += len(items)
        self._note(kind, dict.fromkeys(items, each), computed_s=seconds or 0.0)

    @contextmanager
    def ledger(self, kinds: Iterable[str]) -> Iterator[Ledger]:
        """Count the values of ``kinds`` that this store reads or writes until the block ends (ledgers nest)."""
        book = Ledger(frozenset(kinds))
        self._ledgers.append(book)
        try:
            yield book
        finally:
            self._ledgers.remove(book)

    def _note(self, kind: str, seconds: Mapping[str, float | None], computed_s: float = 0.0) -> None:
        for book in self._ledgers:
            if kind in book.kinds:
                book.used.update(seconds)
                book.computed_s += computed_s

    def present(self, keys: Iterable[str]) -> set[str]:
        """Which of the keys are stored (not counted as hits or misses)."""
        keys = list(keys)
        found: set[str] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            found.update(k for (k,) in self._db.execute(f"SELECT key FROM results WHERE key IN ({','.join('?' * len(chunk))})", chunk))
        return found

    def _all_stored(self, keys: list[str]) -> bool:
        return len(self.present(keys)) == len(set(keys))

    def claim(self, unit: str, lease_s: float = LEASE_S) -> bool:
        """Claim a unit of work for this process: False while another live process holds it."""
        now = time.time()
        self._db.execute("BEGIN IMMEDIATE")  # read and write the claim in one locked step
        try:
            row = self._db.execute("SELECT owner, expires FROM claims WHERE unit = ?", (unit,)).fetchone()
            if row is not None and row[0] != self.owner and row[1] > now and _alive(row[0]):
                self._db.rollback()
                return False
            self._db.execute("INSERT OR REPLACE INTO claims (unit, owner, expires, since) VALUES (?, ?, ?, ?)",
                             (unit, self.owner, now + lease_s, now))
            self._db.commit()
        except BaseException:
            self._db.rollback()
            raise
        with self._held_lock:
            self._held[unit] = lease_s
        if self._renewer is None:
            self._renewer = threading.Thread(target=self._renew, name="stylefit-lease-renewal", daemon=True)
            self._renewer.start()
        return True

    def release(self, unit: str) -> None:
        with self._held_lock:
            self._held.pop(unit, None)
        with self._db:
            self._db.execute("DELETE FROM claims WHERE unit = ? AND owner = ?", (unit, self.owner))

    def _renew(self) -> None:
        """Extend this store's claims every RENEW_S while they are held (its own connection: a SQLite
        connection belongs to the thread that opened it)."""
        db = sqlite3.connect(self.path, timeout=600)
        try:
            while not self._stop.wait(RENEW_S):
                with self._held_lock:
                    held = dict(self._held)
                if held:
                    with db:
                        db.executemany("UPDATE claims SET expires = ? WHERE unit = ? AND owner = ?",
                                       [(time.time() + lease, unit, self.owner) for unit, lease in held.items()])
        finally:
            db.close()

    def claims(self) -> list[dict[str, Any]]:
        """Every claim in the store: unit, owner (host:pid), since, expires, and whether it is live."""
        now = time.time()
        rows = self._db.execute("SELECT unit, owner, since, expires FROM claims ORDER BY since").fetchall()
        return [{"unit": u, "owner": o, "since": since, "expires": e, "live": e > now and _alive(o)} for u, o, since, e in rows]

    def release_owner(self, owner: str) -> int:
        """Release every claim of ``owner`` (a holder known to be gone): its units are computed by the next asker."""
        with self._db:
            return self._db.execute("DELETE FROM claims WHERE owner = ?", (owner,)).rowcount

    def compute_claimed(self, units: Mapping[str, list[str]], work: Callable[[str], None],
                        on_waited: Callable[[str], None] | None = None, lease_s: float = LEASE_S) -> None:
        """Run ``work(unit)`` (which must store the unit's keys) for every unit whose keys are not all
        stored, each claimed first. A unit that another process holds is waited for; once its keys are
        stored, ``on_waited(unit)`` is called (if it failed there, it is claimed and computed here)."""
        pending = list(units)
        told: dict[str, float] = {}  # unit -> when the wait on it was last said
        while pending:
            waiting = []
            for unit in pending:
                if self._all_stored(units[unit]):
                    computed_here = False
                elif self.claim(unit, lease_s):
                    try:
                        computed_here = not self._all_stored(units[unit])  # its last holder may have just finished it
                        if computed_here:
                            work(unit)
                    finally:
                        self.release(unit)
                else:
                    waiting.append(unit)
                    if time.time() - told.get(unit, 0.0) >= WAIT_TELL_S:  # never a silent wait
                        told[unit] = time.time()
                        self._tell_wait(unit, lease_s)
                    continue
                if not computed_here and on_waited:
                    on_waited(unit)
            if waiting:
                time.sleep(POLL_S)
            pending = waiting

    def _tell_wait(self, unit: str, lease_s: float) -> None:
        """Say on stderr whom this process waits for and since when (claims of one kind share a lease length)."""
        row = self._db.execute("SELECT owner, expires, since FROM claims WHERE unit = ?", (unit,)).fetchone()
        if row is None:
            return  # released meanwhile
        owner, expires, since = row
        since = time.strftime("%H:%M:%S", time.localtime(expires - lease_s if since is None else since))
        until = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(expires))
        print(f"stylefit: waiting for {unit[:12]}, claimed by {owner} at {since} (its holder renews it while it lives; "
              f"it lapses at {until} otherwise; `stylefit claims --release {owner}` frees it)", file=sys.stderr, flush=True)

    def count(self, kind: str | None = None) -> int:
        if kind is None:
            return self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM results WHERE kind = ?", (kind,)).fetchone()[0]

    def close(self) -> None:
        self._stop.set()
        self._db.close()


def _alive(owner: str) -> bool:
    """Whether the process holding a claim still runs (a claim from another host is trusted to its lease)."""
    host, _, pid = owner.rpartition(":")
    return host != socket.gethostname() or alive(int(pid))
