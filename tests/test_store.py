from stylefit.core.store import Store, content_key


def test_content_key_depends_on_every_field_and_not_on_order():
    a = content_key({"model": "r1", "prompt": "x", "params": {"k": 3, "variant": "paper"}})
    assert a == content_key({"params": {"variant": "paper", "k": 3}, "prompt": "x", "model": "r1"})
    assert a != content_key({"model": "r2", "prompt": "x", "params": {"k": 3, "variant": "paper"}})
    assert a != content_key({"model": "r1", "prompt": "x", "params": {"k": 2, "variant": "paper"}})


def test_values_survive_a_reopen(tmp_path):
    path = tmp_path / "c.sqlite"
    s = Store(path)
    s.put_many("score", {"k1": {"value": 1.5, "nll": None, "n_tokens": 3}})
    s.close()
    s = Store(path)
    assert s.get_many(["k1", "k2"]) == {"k1": {"value": 1.5, "nll": None, "n_tokens": 3}}
    assert (s.hits, s.misses) == (1, 1) and s.count("score") == 1


def test_rows_record_their_writer_and_an_old_store_gains_the_columns(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)  # a store made before rows had a writer
    db.execute("CREATE TABLE results (key TEXT PRIMARY KEY, kind TEXT NOT NULL, value TEXT NOT NULL)")
    db.execute("INSERT INTO results VALUES ('old', 'score', '1')")
    db.commit()
    db.close()
    s = Store(path)
    s.put_many("score", {"new": 2})
    rows = {k: (w, n) for k, w, n in s._db.execute("SELECT key, writer, writes FROM results")}
    assert rows == {"old": (None, 1), "new": (s.owner, 1)} and s.get_many(["old", "new"]) == {"old": 1, "new": 2}
    s.put_many("score", {"new": 3})  # computed again: counted
    assert s._db.execute("SELECT writes FROM results WHERE key = 'new'").fetchone() == (2,)
    assert s.written == {"score": 2} and s.get_many(["new"]) == {"new": 3}


def test_a_ledger_counts_what_the_values_it_saw_cost_when_computed(tmp_path):
    import sqlite3

    path = tmp_path / "c.sqlite"
    db = sqlite3.connect(path)  # a store made before rows recorded their compute seconds
    db.execute("CREATE TABLE results (key TEXT PRIMARY KEY, kind TEXT NOT NULL, value TEXT NOT NULL)")
    db.execute("INSERT INTO results VALUES ('old', 'score', '1')")
    db.commit()
    db.close()
    s = Store(path)
    s.put_many("score", {"a": 1, "b": 2}, seconds=3.0)  # a batch's cost, shared by its values
    s.put_many("run", {"r": 0}, seconds=10.0)
    with s.ledger(["score"]) as outer:
        assert s.get_many(["a", "old", "r", "missing"]).keys() == {"a", "old", "r"}
        with s.ledger(["score", "run"]) as inner:
            s.put_many("score", {"c": 3}, seconds=0.5)
            s.get_many(["r"])
        s.get_many(["a"])  # read twice: counted once
    assert (outer.work_s, outer.computed_s, outer.unrecorded) == (2.0, 0.5, 1)  # a 1.5, c 0.5; 'old' unknown; no runs
    assert (inner.work_s, inner.computed_s, inner.unrecorded) == (10.5, 0.5, 0)
    assert outer.cold_s(4.0) == 5.5  # 4 s on the clock, less the 0.5 s computed then, plus the 2 s of every value used
    s.put_many("score", {"c": 4})  # nothing open: counted nowhere; a value put without its cost is unknown
    with s.ledger(["score"]) as later:
        s.get_many(["c"])
    assert (later.work_s, later.unrecorded) == (0.0, 1)


def test_a_claim_holds_while_its_process_lives_and_not_after(tmp_path):
    import subprocess
    import sys

    a, b = Store(tmp_path / "c.sqlite"), Store(tmp_path / "c.sqlite")
    b.owner = "elsewhere-host:1"  # another machine's claim is trusted to its lease
    assert b.claim("u1") and not a.claim("u1")
    assert b.claim("u2", lease_s=-1) and a.claim("u2")  # an expired lease is taken over
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    b.owner = f"{a.owner.rsplit(':', 1)[0]}:{child.pid}"  # a live process on this machine
    assert b.claim("u3") and not a.claim("u3")
    child.kill()
    child.wait()
    assert a.claim("u3")  # its holder died: taken at once
    a.release("u3")
    assert b.claim("u3")  # released


def _share_work(path, unit_count, log):
    import os
    import time

    store = Store(path)
    units = {f"u{i}": [f"k{i}"] for i in range(unit_count)}

    def work(unit):
        time.sleep(0.1)
        store.put_many("score", {units[unit][0]: os.getpid()})
        with open(log, "a") as f:
            f.write(f"{unit}\n")

    store.compute_claimed(units, work)
    return store.get_many([k for keys in units.values() for k in keys])


def test_two_processes_sharing_a_store_compute_each_unit_once(tmp_path):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    path, log = tmp_path / "c.sqlite", tmp_path / "computed.log"
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = [f.result() for f in [pool.submit(_share_work, path, 40, log) for _ in range(2)]]
    computed = log.read_text().split()
    assert sorted(computed) == sorted(f"u{i}" for i in range(40))  # each once, by one of the two
    assert results[0] == results[1] and len(results[0]) == 40
    assert len(set(results[0].values())) == 2  # both did some of the work
    assert Store(path)._db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _open_and_put(path):
    import uuid

    Store(path).put_many("score", {uuid.uuid4().hex: 1})


def test_processes_creating_one_store_at_once_are_never_locked_out(tmp_path):
    # Measured before the fix: 4 of 30 such races failed with "database is locked".
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(8) as pool:
        for trial in range(10):
            path = tmp_path / f"c{trial}.sqlite"
            pool.map(_open_and_put, [path] * 8)
            assert Store(path).count() == 8


def test_a_wait_on_another_process_says_whom_it_waits_for_and_since_when(tmp_path, capsys):
    import threading
    import time

    b = Store(tmp_path / "c.sqlite")
    b.owner = "elsewhere-host:7"
    assert b.claim("unit-of-work", lease_s=600)
    done = []  # a store is used in the thread that opened it
    waiter = threading.Thread(target=lambda: Store(tmp_path / "c.sqlite").compute_claimed(
        {"unit-of-work": ["k"]}, lambda u: None, done.append, lease_s=600))
    waiter.start()
    err, deadline = "", time.monotonic() + 60
    while "stylefit: waiting" not in err and time.monotonic() < deadline:  # the holder finishes only once the wait is said
        time.sleep(0.05)
        err += capsys.readouterr().err
    time.sleep(1.2)  # a few more polls: said once, not at every poll
    b.put_many("score", {"k": 1})
    waiter.join(timeout=30)
    assert done == ["unit-of-work"]
    said = [line for line in (err + capsys.readouterr().err).splitlines() if line.startswith("stylefit: waiting")]
    assert len(said) == 1 and said[0].startswith("stylefit: waiting for unit-of-work, claimed by elsewhere-host:7 at ")


def test_a_holder_renews_its_claim_past_its_lease_and_a_gone_one_lapses(tmp_path, monkeypatch):
    import time

    import stylefit.core.store as store_module

    monkeypatch.setattr(store_module, "RENEW_S", 0.05)
    a, b = Store(tmp_path / "c.sqlite"), Store(tmp_path / "c.sqlite")
    b.owner = "restarted-container:1"  # another host: only its lease tells whether it lives
    assert b.claim("u", lease_s=1.0)
    time.sleep(2.5)  # past two leases: still held, because b renews it (every 0.05 s)
    assert not a.claim("u")
    [row] = a.claims()
    assert row["owner"] == "restarted-container:1" and row["live"] and row["since"] <= time.time() - 2.4
    b._stop.set()  # the holder is gone: nobody renews
    time.sleep(1.5)
    assert not a.claims()[0]["live"] and a.claim("u")


def test_claims_lists_and_releases_a_gone_holder_through_the_cli(tmp_path):
    from typer.testing import CliRunner

    from stylefit.cli import app

    b = Store(tmp_path / "c.sqlite")
    b.owner = "old-host:42"
    assert b.claim("unit-of-work")
    listed = CliRunner().invoke(app, ["claims", "--cache", str(tmp_path / "c.sqlite")])
    assert listed.exit_code == 0 and "old-host:42" in listed.output and "live" in listed.output
    released = CliRunner().invoke(app, ["claims", "--cache", str(tmp_path / "c.sqlite"), "--release", "old-host:42"])
    assert released.exit_code == 0 and "released 1 claim(s)" in released.output
    assert Store(tmp_path / "c.sqlite").claim("unit-of-work") and not Store(tmp_path / "c.sqlite").claims()[0]["owner"].startswith("old")
