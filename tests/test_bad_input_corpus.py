"""Generated bad input (hypothesis): a corrupted candidate file, task split or live-track config
either loads, or fails with one line naming the file and line (or the item); never a traceback of
another kind, never a silent drop.

Each strategy draws a valid file and corrupts it the way hand-made files go wrong: cut short,
non-UTF-8 or BOM-prefixed bytes, a line replaced by other JSON (ids as numbers, missing or null
fields, NaN, huge or blank responses), duplicated or dropped lines."""

import json
import os
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import write_task
from stylefit.core.errors import StylefitError
from stylefit.data import load_candidates, load_task

EXAMPLES = 150
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
rows = st.fixed_dictionaries({}, optional={
    "id": st.sampled_from(["q0", "q1", "q99", "", " q1"]) | st.integers(-1, 12) | json_values,
    "response": st.sampled_from(["", "   ", "\n", "Final Answer: 1", "x" * 1_000_000]) | json_values,
    "question": st.sampled_from(["What is 1 + 1?", "another question"]) | json_values,
    "extra": json_values,
})


@st.composite
def corruptions(draw):
    """(what was done, a function from the valid file's bytes to the corrupted ones)."""
    kind = draw(st.sampled_from(["truncate", "bytes", "bom", "row", "duplicate", "drop", "blank"]))
    if kind == "truncate":
        cut = draw(st.integers(0, 400))
        return kind, lambda b: b[:cut]
    if kind == "bytes":
        at, junk = draw(st.integers(0, 400)), draw(st.binary(min_size=1, max_size=8))
        return kind, lambda b: b[:at] + junk + b[at:]
    if kind == "bom":
        return kind, lambda b: b"\xef\xbb\xbf" + b
    line = draw(st.integers(0, 11))
    if kind == "row":
        row = json.dumps(draw(rows), allow_nan=True).encode()
        return kind, lambda b: b"\n".join(row if i == line else x for i, x in enumerate(b.split(b"\n")))
    if kind == "duplicate":
        return kind, lambda b: b + b.split(b"\n")[line] + b"\n"
    if kind == "drop":
        return kind, lambda b: b"\n".join(x for i, x in enumerate(b.split(b"\n")) if i != line)
    return kind, lambda b: b"\n".join(b"   " if i == line else x for i, x in enumerate(b.split(b"\n")))


TALLY: defaultdict[str, Counter] = defaultdict(Counter)  # input -> how its cases ended


@pytest.fixture(scope="module", autouse=True)
def write_tally():
    """benchmarks/reliability.py reads the tally from the file named by $STYLEFIT_CORPUS_TALLY."""
    yield
    if os.environ.get("STYLEFIT_CORPUS_TALLY"):
        Path(os.environ["STYLEFIT_CORPUS_TALLY"]).write_text(json.dumps(TALLY))


def ends_well(call, names: tuple[str, ...], what: str) -> str:
    """'loaded' or 'error'; anything else fails the test (and is tallied as 'other')."""
    outcome = "other"
    try:
        try:
            call()
        except StylefitError as e:
            message = str(e)
            assert "\n" not in message, message
            assert any(name in message for name in names), f"the error names no file or item: {message}"
            outcome = "error"
        else:
            outcome = "loaded"
    finally:
        TALLY[what][outcome] += 1
    return outcome


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    return write_task(tmp_path_factory.mktemp("corpus") / "task")


@SETTINGS
@given(corruption=corruptions(), target=st.sampled_from(["short", "steps", "wordy"]))
def test_a_corrupted_candidate_file_loads_or_is_a_one_line_error_naming_it(valid, corruption, target):
    _, corrupt = corruption
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "task"
        root.mkdir()
        for f in valid.iterdir():
            if f.is_file():
                (root / f.name).write_bytes(f.read_bytes())
        (root / "candidates").mkdir()
        for f in (valid / "candidates").iterdir():
            data = f.read_bytes()
            (root / "candidates" / f.name).write_bytes(corrupt(data) if f.stem == target else data)
        task = load_task(root)
        outcome = ends_well(lambda: load_candidates(task, root / "candidates"), (f"{target}.jsonl", f"'{target}'", "strateg"),
                            "candidate file")
        if outcome == "loaded":  # nothing dropped: every strategy still answers every question, in the task's order
            candidates = load_candidates(task, root / "candidates")
            assert candidates.ids == [q.id for q in task.train if q.id in set(candidates.ids)]
            assert all(len(candidates.candidates(s)) == len(candidates.ids) for s in candidates.strategies)


@SETTINGS
@given(corruption=corruptions())
def test_a_corrupted_task_split_loads_or_is_a_one_line_error_naming_it(valid, corruption):
    _, corrupt = corruption
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "task"
        root.mkdir()
        (root / "task.json").write_bytes((valid / "task.json").read_bytes())
        (root / "train.jsonl").write_bytes(corrupt((valid / "train.jsonl").read_bytes()))
        ends_well(lambda: load_task(root), ("train.jsonl", "task"), "task split")


toml_values = (st.integers(-10**6, 10**6) | st.floats(-1e6, 1e6, allow_nan=False) | st.booleans() | st.text(max_size=12)
               | st.lists(st.integers(-3, 3) | st.text(max_size=4), max_size=3))
RUN_KEYS = ["task", "target", "strategies", "recipes", "n", "full_size", "scorer", "sample_seed", "bootstrap", "keep_wrong",
            "device", "dtype", "verify", "colour", "strategy"]
LIVE_KEYS = ["results", "n_select", "seeds", "recipe", "eval", "dtype", "selectors", "cases", "case", "n_selects"]


def toml_value(value) -> str:
    return json.dumps(value, ensure_ascii=False)  # these JSON values are TOML values


@SETTINGS
@given(key=st.sampled_from(RUN_KEYS), value=toml_values)
def test_a_run_config_with_an_odd_key_or_value_loads_or_is_a_one_line_error_naming_it(tmp_path_factory, key, value):
    from stylefit.loop import load_config

    path = tmp_path_factory.mktemp("run") / "run.toml"
    body = {"task": '"."', "strategies": '["a", "b"]'} | {key: toml_value(value)}
    path.write_text("".join(f"{k} = {v}\n" for k, v in body.items()))
    ends_well(lambda: load_config(path), ("run.toml",), "run config")


@SETTINGS
@given(key=st.sampled_from(LIVE_KEYS), value=toml_values)
def test_a_live_config_with_an_odd_key_or_value_loads_or_is_a_one_line_error_naming_it(tmp_path_factory, key, value):
    from stylefit.bench.live.config import load_live_config

    path = tmp_path_factory.mktemp("live") / "live.toml"
    body = {"selectors": '[{ name = "ppl", scorer = "ppl" }]',
            "cases": '[{ name = "c", task = "t", target = "m", strategies = ["a", "b"] }]'} | {key: toml_value(value)}
    path.write_text("".join(f"{k} = {v}\n" for k, v in body.items()))
    ends_well(lambda: load_live_config(path), ("live.toml",), "live-track config")
