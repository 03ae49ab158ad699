"""Kill -9 in the middle of real `stylefit` processes (a tiny target saved as a folder): the rerun
resumes from the cache, computes nothing that was stored, and ends with the uninterrupted run's
results, bit for bit. Two processes sharing one cache compute nothing twice.
benchmarks/reliability.py does the same on SmolLM2 at seeded random points, for every command."""

import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, write_task

_spec = importlib.util.spec_from_file_location("reliability", REPO / "benchmarks" / "reliability.py")
reliability = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reliability)


def stylefit(args: list[str], home: Path) -> subprocess.Popen:
    env = os.environ | {"STYLEFIT_HOME": str(home), "OMP_NUM_THREADS": "1", "COLUMNS": "160"}
    return subprocess.Popen([sys.executable, "-m", "stylefit", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]


def rows(cache: Path) -> tuple[int, int]:
    """(rows stored, rows written more than once) — 0, 0 before the cache exists."""
    if not cache.exists():
        return 0, 0
    db = sqlite3.connect(cache, timeout=60)
    try:
        return db.execute("SELECT COUNT(*), COALESCE(SUM(writes - 1), 0) FROM results").fetchone()
    except sqlite3.OperationalError:  # the table is not there yet
        return 0, 0
    finally:
        db.close()


def kill_when(proc: subprocess.Popen, ready, timeout: float = 300) -> bool:
    """SIGKILL the process group as soon as ``ready()``; False if the process ended first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        if ready():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return True
        time.sleep(0.02)
    raise AssertionError("the kill point was never reached")


def outputs(folder: Path) -> dict:
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".json":
            found[path.name] = reliability.strip(json.loads(path.read_text()))  # timings and counters aside
        elif path.suffix == ".jsonl":
            found[path.name] = [json.loads(x) for x in path.read_text().splitlines()]
    return found


def killed_and_resumed(tmp_path, args, partial) -> tuple[dict, dict, Path]:
    """(uninterrupted outputs, resumed outputs, the killed run's folder). ``args(work)`` is the command
    line writing into ``work/out`` with the cache ``work/cache.sqlite``; ``partial(work)`` says the run is
    far enough along to be killed. A kill that comes too late (the run ended) is tried again."""
    whole = tmp_path / "whole"
    finish(stylefit(args(whole), whole / "home"))
    total, rewritten = rows(whole / "cache.sqlite")
    assert rewritten == 0
    for attempt in range(3):
        work = tmp_path / f"killed{attempt}"
        if kill_when(stylefit(args(work), work / "home"), lambda: partial(work)):
            break
    else:
        pytest.fail("three runs ended before the kill point")
    stored, _ = rows(work / "cache.sqlite")
    assert stored < total
    for leftover in (work / "out").rglob("*"):  # whatever a kill leaves is whole
        if leftover.suffix == ".json":
            json.loads(leftover.read_text())
    finish(stylefit(args(work), work / "home"))
    after, rewritten = rows(work / "cache.sqlite")
    assert (after, rewritten) == (total, 0)  # everything there, nothing stored computed again
    return outputs(whole / "out"), outputs(work / "out"), work


def test_select_killed_mid_scoring_resumes(tmp_path, tiny_target):
    task = write_task(tmp_path / "task", n=400)

    def args(work):
        return ["select", str(task), str(task / "candidates"), "--model", tiny_target, "--scorer", "ppl", "--n", "400",
                "--out", str(work / "out" / "select.json"), "--cache", str(work / "cache.sqlite")]

    whole, resumed, _ = killed_and_resumed(tmp_path, args, lambda work: rows(work / "cache.sqlite")[0] > 0)
    assert whole == resumed
    finish(stylefit(args(tmp_path / "again"), tmp_path / "again" / "home"))
    assert outputs(tmp_path / "again" / "out") == whole  # run after run: the same bits


def test_generate_killed_mid_generation_resumes(tmp_path, tiny_target):
    task = write_task(tmp_path / "task", n=320)
    recipes = tmp_path / "own.toml"
    recipes.write_text('[strategy.own]\ndescription = "its own answers"\nkind = "teacher"\nteacher = "target"\nprompt = "{question}"\nmax_new_tokens = 48\n'
                       "retries = 1\nfix_final_answer = true\n")

    def args(work):
        return ["generate", str(task), "-r", str(recipes), "-s", "own", "-s", "answer_only", "--model", tiny_target,
                "--out", str(work / "out"), "--cache", str(work / "cache.sqlite")]

    whole, resumed, _ = killed_and_resumed(tmp_path, args, lambda work: rows(work / "cache.sqlite")[0] > 0)
    assert whole == resumed and len(whole["own.jsonl"]) == 320


def test_verify_killed_mid_training_resumes_from_its_checkpoint(tmp_path, tiny_target):
    task = write_task(tmp_path / "task", n=64)
    (task / "test.jsonl").write_text("".join(json.dumps({"id": f"t{i}", "question": f"What is {i} + 7?", "gold": str(i + 7)}) + "\n"
                                         for i in range(4)))
    (task / "task.json").write_text(json.dumps(json.loads((task / "task.json").read_text()) | {"test": "test.jsonl"}))

    def args(work):
        return ["verify", str(task), str(task / "candidates"), "--model", tiny_target, "--strategy", "steps", "--seeds", "0",
                "--epochs", "3", "--batch-size", "2", "--max-new-tokens", "8", "--n-test", "4", "--no-base",
                "--checkpoint-every", "8", "--out", str(work / "out" / "verify.json"), "--cache", str(work / "cache.sqlite")]

    def checkpointed(work):  # a complete checkpoint past the first
        folders = list((work / "home" / "checkpoints").glob("*/checkpoint-*/stylefit_state.pt"))
        return any(int(f.parent.name.split("-")[1]) >= 16 for f in folders)

    whole, resumed, work = killed_and_resumed(tmp_path, args, checkpointed)
    run = json.loads((work / "out" / "verify.json").read_text())["runs"][0]
    assert run["training"]["resumed_from_step"] >= 16  # went on from its checkpoint, not from scratch
    assert whole == resumed
    assert not any((work / "home" / "checkpoints").iterdir())  # removed once the run finished


def test_two_selects_sharing_a_cache_compute_nothing_twice(tmp_path, tiny_target):
    task = write_task(tmp_path / "task", n=400)
    cache = tmp_path / "cache.sqlite"

    def args(work):
        return ["select", str(task), str(task / "candidates"), "--model", tiny_target, "--scorer", "ppl", "--n", "400",
                "--out", str(work / "out" / "select.json"), "--cache", str(cache)]

    procs = [stylefit(args(tmp_path / name), tmp_path / name / "home") for name in ("a", "b")]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0 and "locked" not in err, err[-3000:]
    assert rows(cache) == (1200, 0)  # 400 questions x 3 strategies, each computed once
    assert outputs(tmp_path / "a" / "out") == outputs(tmp_path / "b" / "out")
