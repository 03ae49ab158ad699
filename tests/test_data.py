"""Bad input is a clear one-line error naming the file/line or item."""

import json

import pytest

from conftest import write_task
from stylefit.core.errors import StylefitError
from stylefit.data import load_candidates, load_task


def test_example_task_loads(tiny_task):
    task = load_task(tiny_task)
    candidates = load_candidates(task, tiny_task / "candidates")
    assert candidates.strategies == ["short", "steps", "wordy"]
    assert candidates.ids == [f"q{i}" for i in range(12)]
    first = candidates.candidates("steps")[0]
    assert first.prompt == "What is 0 + 0? End with 'Final Answer: N'." and first.response.endswith("Final Answer: 0")


def rewrite(path, lines):
    path.write_text("".join(line + "\n" for line in lines))


def test_malformed_jsonl_names_file_and_line(tiny_task):
    path = tiny_task / "candidates" / "short.jsonl"
    lines = path.read_text().splitlines()
    lines[2] = '{"id": "q2", "response": "Final Answer: 4"'
    rewrite(path, lines)
    with pytest.raises(StylefitError, match=r"short\.jsonl:3: not valid JSON"):
        load_candidates(load_task(tiny_task), tiny_task / "candidates")


def test_duplicate_id(tiny_task):
    path = tiny_task / "candidates" / "wordy.jsonl"
    lines = path.read_text().splitlines()
    rewrite(path, lines + [lines[0]])
    with pytest.raises(StylefitError, match=r"wordy\.jsonl:13: duplicate id 'q0' \(first on line 1\)"):
        load_candidates(load_task(tiny_task), tiny_task / "candidates")


def test_ids_that_differ_only_by_type_are_one_id_given_twice(tmp_path):
    root = write_task(tmp_path / "task", n=3, strategies={"a": lambda r: "x", "b": lambda r: "y"})
    rows = [{"id": str(i), "question": f"Q{i}?", "gold": "1"} for i in range(3)]
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "candidates" / "a.jsonl").write_text("".join(json.dumps({"id": i, "response": "x"}) + "\n" for i in range(3)))
    (root / "candidates" / "b.jsonl").write_text("".join(json.dumps({"id": str(i), "response": "y"}) + "\n" for i in range(3)))
    assert load_candidates(load_task(root), root / "candidates").ids == ["0", "1", "2"]  # 1 is the task's "1"
    with (root / "candidates" / "a.jsonl").open("a") as f:
        f.write(json.dumps({"id": "1", "response": "x"}) + "\n")
    with pytest.raises(StylefitError, match=r"a\.jsonl:4: duplicate id '1' \(first on line 2\)"):
        load_candidates(load_task(root), root / "candidates")


def test_id_missing_from_one_strategy(tiny_task):
    path = tiny_task / "candidates" / "steps.jsonl"
    rewrite(path, path.read_text().splitlines()[:-1])
    with pytest.raises(StylefitError, match=r"strategy 'steps' lacks 1 id\(s\) compared with 'short' \(e.g. 'q11'\)"):
        load_candidates(load_task(tiny_task), tiny_task / "candidates")


def test_id_not_in_task(tiny_task):
    path = tiny_task / "candidates" / "steps.jsonl"
    rewrite(path, path.read_text().splitlines() + [json.dumps({"id": "q99", "response": "x"})])
    with pytest.raises(StylefitError, match=r"steps\.jsonl:13: id 'q99' is not a question of task 'tiny-sums'"):
        load_candidates(load_task(tiny_task), tiny_task / "candidates")


def test_empty_response(tiny_task):
    path = tiny_task / "candidates" / "short.jsonl"
    lines = path.read_text().splitlines()
    lines[4] = json.dumps({"id": "q4", "response": "   "})
    rewrite(path, lines)
    with pytest.raises(StylefitError, match=r"short\.jsonl:5: empty response for id 'q4'"):
        load_candidates(load_task(tiny_task), tiny_task / "candidates")


def test_missing_field_and_bad_task_spec(tiny_task):
    rewrite(tiny_task / "train.jsonl", [json.dumps({"id": "q0", "gold": "1"})])
    with pytest.raises(StylefitError, match=r"train\.jsonl:1: missing field 'question'"):
        load_task(tiny_task)
    (tiny_task / "task.json").write_text(json.dumps({"name": "t", "verifier": "regex"}))
    with pytest.raises(StylefitError, match="unknown verifier 'regex'"):
        load_task(tiny_task)
    (tiny_task / "task.json").write_text(json.dumps({"name": "t", "prompt": "x"}))
    with pytest.raises(StylefitError, match=r"task\.json: prompt: Extra inputs"):
        load_task(tiny_task)


def test_task_without_verifier_fails_where_one_is_needed(tmp_path, tiny_lm, store):
    from conftest import write_task
    from stylefit import select

    root = write_task(tmp_path / "t", verifier=None)
    result = select(root, root / "candidates", target=tiny_lm, scorer="ppl", n=4, store=store)  # ppl needs none
    assert result.ranking.n == 4
    with pytest.raises(StylefitError, match="task 'tiny-sums' .* names no verifier"):
        select(root, root / "candidates", target=tiny_lm, scorer="sppl", scorer_params={"m": 4}, n=4, store=store)


def test_gzipped_candidate_files_are_read(tiny_task):
    import gzip

    plain = tiny_task / "candidates" / "wordy.jsonl"
    with gzip.open(tiny_task / "candidates" / "wordy.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(plain.read_text())
    text = plain.read_text()
    plain.unlink()
    candidates = load_candidates(load_task(tiny_task), tiny_task / "candidates")
    assert candidates.strategies == ["short", "steps", "wordy"]
    assert [c.response for c in candidates.candidates("wordy")] == [json.loads(line)["response"] for line in text.splitlines()]


@pytest.mark.parametrize("name", ["notes.txt", "extra.json", "manifest.jsonl.bz2", "more.jsonl.bz2", "sub/"])
def test_a_file_that_is_not_a_candidate_file_is_an_error_not_skipped(tiny_task, name):
    if name.endswith("/"):
        (tiny_task / "candidates" / name).mkdir()  # a folder that no save_to_disk wrote
        name = name[:-1]
    else:
        (tiny_task / "candidates" / name).write_text("{}\n")
    with pytest.raises(StylefitError, match=rf"candidates/{name}: not a candidate file \(expected <strategy>\.jsonl, \.jsonl\.gz or \.parquet, or a <strategy>/ folder written by save_to_disk\)"):
        load_candidates(load_task(tiny_task), tiny_task / "candidates")


def test_generates_manifest_beside_the_candidates_is_not_a_strategy(tiny_task):
    (tiny_task / "candidates" / "manifest.json").write_text('{"task": "tiny-sums"}\n')
    assert load_candidates(load_task(tiny_task), tiny_task / "candidates").strategies == ["short", "steps", "wordy"]
    with pytest.raises(StylefitError, match="manifest.json: not a candidate file"):  # named as a file, it is refused
        load_candidates(load_task(tiny_task), [tiny_task / "candidates" / "manifest.json", tiny_task / "candidates" / "short.jsonl"])


def test_the_same_strategy_gzipped_and_plain_is_an_error(tiny_task):
    import gzip

    with gzip.open(tiny_task / "candidates" / "short.jsonl.gz", "wt") as f:
        f.write((tiny_task / "candidates" / "short.jsonl").read_text())
    with pytest.raises(StylefitError, match="strategy 'short' given twice"):
        load_candidates(load_task(tiny_task), tiny_task / "candidates")


def test_an_atomic_write_removes_what_a_killed_writer_left_and_nothing_else(tmp_path):
    import os
    import subprocess
    import sys

    from stylefit.data.jsonl import write_atomic

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f".out.json.{dead.pid}.abc.tmp").write_text('{"half')  # a killed writer's
    (tmp_path / f".out.json.{os.getpid()}.live.tmp").write_text("{")  # a live writer's (this process)
    write_atomic(tmp_path / "out.json", "{}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".out.json.{os.getpid()}.live.tmp", "out.json"]


@pytest.mark.parametrize("test_row,message", [
    ({"id": "q3", "question": "What is 30 + 0?", "gold": "30"}, r"1 test question\(s\) also in the training split \(first: id 'q3'\)"),
    ({"id": "t0", "question": " What is  4 +\n1? ", "gold": "5"},
     r"1 test question\(s\) also in the training split \(first: test id 't0' has the text of training id 'q4'\)"),
])
def test_a_test_question_also_in_training_is_an_error_naming_it(tiny_task, test_row, message):
    rows = [{"id": "t9", "question": "What is 99 + 1?", "gold": "100"}, test_row]
    (tiny_task / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tiny_task / "task.json").write_text(json.dumps(json.loads((tiny_task / "task.json").read_text()) | {"test": "test.jsonl"}))
    with pytest.raises(StylefitError, match=rf"task.json: {message}; the splits must be disjoint"):
        load_task(tiny_task)
    (tiny_task / "test.jsonl").write_text(json.dumps(rows[0]) + "\n")
    assert [q.id for q in load_task(tiny_task).test] == ["t9"]  # disjoint: loads
