"""Candidate sets and tasks in the formats people already have: chat and alpaca JSONL, parquet,
datasets' save_to_disk folders, and a field mapping; every bad input a one-line error."""

import json

import pytest

from conftest import char_tokenizer, tiny_llama, write_task
from stylefit.core.errors import StylefitError
from stylefit.data import FieldMap, load_candidates, load_task

SUFFIX = "End with 'Final Answer: N'."


@pytest.fixture
def root(tmp_path):
    """write_task's task, its prompt asking for the format after a blank line (as alpaca's input)."""
    root = write_task(tmp_path / "task")
    spec = json.loads((root / "task.json").read_text())
    (root / "task.json").write_text(json.dumps(spec | {"prompt_template": "{question}\n\n" + SUFFIX}))
    return root


def plain_rows(root):
    """strategy -> [(task row, response)] in the task's order, from write_task's plain JSONL."""
    train = [json.loads(line) for line in (root / "train.jsonl").read_text().splitlines()]
    out = {}
    for path in sorted((root / "candidates").glob("*.jsonl")):
        responses = {r["id"]: r["response"] for r in map(json.loads, path.read_text().splitlines())}
        out[path.stem] = [(r, responses[r["id"]]) for r in train]
    return out


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_parquet(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def save_to_disk(path, rows):
    import datasets

    datasets.Dataset.from_list(rows).save_to_disk(str(path))


def chat_row(r, response, i):
    # Rows in reverse order, without ids; half ask the rendered prompt, half the raw question.
    user = r["question"] if i % 2 else f"{r['question']}\n\n{SUFFIX}"
    return {"messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": user},
                         {"role": "assistant", "content": response}]}


def alpaca_row(r, response, i):
    return {"instruction": r["question"], "input": SUFFIX if i % 2 else "", "output": response}


def write_format(fmt, root, folder):
    """The same candidate set as write_task's plain JSONL, written in another format."""
    fields = FieldMap()
    for name, pairs in plain_rows(root).items():
        if fmt == "chat":
            write_jsonl(folder / f"{name}.jsonl", [chat_row(r, y, i) for i, (r, y) in reversed(list(enumerate(pairs)))])
        elif fmt == "alpaca":
            write_jsonl(folder / f"{name}.jsonl", [alpaca_row(r, y, i) for i, (r, y) in enumerate(pairs)])
        elif fmt == "parquet":
            write_parquet(folder / f"{name}.parquet", [{"uid": r["id"], "completion": y} for r, y in pairs])
            fields = FieldMap(id="uid", response="completion")
        elif fmt == "save_to_disk":
            save_to_disk(folder / name, [{"id": r["id"], "response": y} for r, y in pairs])
        elif fmt == "gzipped chat":
            import gzip

            folder.mkdir(parents=True, exist_ok=True)
            with gzip.open(folder / f"{name}.jsonl.gz", "wt") as f:
                f.writelines(json.dumps(chat_row(r, y, i)) + "\n" for i, (r, y) in enumerate(pairs))
    return fields


@pytest.mark.parametrize("fmt", ["chat", "alpaca", "parquet", "save_to_disk", "gzipped chat"])
def test_every_format_loads_to_the_same_candidate_set(root, fmt):
    task = load_task(root)
    reference = load_candidates(task, root / "candidates")
    fields = write_format(fmt, root, root.parent / fmt)
    loaded = load_candidates(task, root.parent / fmt, fields=fields)
    assert loaded.strategies == reference.strategies == ["short", "steps", "wordy"]
    assert loaded.ids == reference.ids == [f"q{i}" for i in range(12)]
    assert loaded.by_strategy == reference.by_strategy
    assert loaded.candidates("steps")[3].prompt == f"What is 3 + 0?\n\n{SUFFIX}"


def test_formats_mix_across_files_and_a_dataset_folder_may_be_given_itself(root):
    task = load_task(root)
    reference = load_candidates(task, root / "candidates")
    write_format("chat", root, root.parent / "chat")
    save_to_disk(root.parent / "ds" / "steps", [{"id": r["id"], "response": y} for r, y in plain_rows(root)["steps"]])
    loaded = load_candidates(task, [root.parent / "chat" / "short.jsonl", root.parent / "ds" / "steps", root / "candidates" / "wordy.jsonl"])
    assert loaded.by_strategy == reference.by_strategy


def test_a_row_question_is_the_prompt_unless_it_matched_the_raw_question(root):
    task = load_task(root)
    cands = root.parent / "c"
    write_jsonl(cands / "a.jsonl", [{"id": "q0", "question": "Zero plus zero?", "response": "0"},  # an id: its own prompt
                                    {"question": "What is 1 + 1?", "response": "2"}])  # the raw question: the task's prompt
    write_jsonl(cands / "b.jsonl", [{"question": f"  What is 1 + 1?\n\n{SUFFIX}\n", "response": "2"},  # the rendered prompt, as given
                                    {"id": "q0", "question": "Zero plus zero?", "response": "0"}])
    loaded = load_candidates(task, cands)
    assert [c.prompt for c in loaded.candidates("a")] == ["Zero plus zero?", f"What is 1 + 1?\n\n{SUFFIX}"]
    assert [c.prompt for c in loaded.candidates("b")] == ["Zero plus zero?", f"  What is 1 + 1?\n\n{SUFFIX}\n"]
    write_jsonl(cands / "b.jsonl", [{"question": "What is 1 + 1?", "response": "2"}, {"id": "q0", "response": "0"}])
    with pytest.raises(StylefitError, match=r"^strategy 'b' answers id 'q0' under another prompt than 'a' \('What is 0 \+ 0\? End with 'Final Answer: N'\.' vs 'Zero plus zero\?'\)"):
        load_candidates(task, cands)  # the task's prompt here, its own there: not paired


def chat(user, answer="Final Answer: 1"):
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}


def dataset_dict(folder):
    import datasets

    rows = datasets.Dataset.from_list([{"id": "q0", "response": "x"}])
    datasets.DatasetDict({"train": rows, "test": rows}).save_to_disk(str(folder / "short"))


BAD = {
    "empty chat response": (lambda c: write_jsonl(c / "short.jsonl", [chat("What is 0 + 0?", "  ")]),
                            r"short\.jsonl:1: empty response$"),
    "mixed formats": (lambda c: write_jsonl(c / "short.jsonl", [chat("What is 0 + 0?"), {"id": "q1", "response": "x"}]),
                      r"short\.jsonl:2: a flat row in a chat file \(line 1 is chat\)"),
    "no matching question": (lambda c: write_jsonl(c / "short.jsonl", [chat("What is 0 + 0?"), chat("What is 99 + 0?")]),
                             r"short\.jsonl:2: no id, and the question matches no question of task 'tiny-sums': 'What is 99 \+ 0\?'"),
    "two rows, one question": (lambda c: write_jsonl(c / "short.jsonl", [chat("What is 0 + 0?"), chat(f"What is 0 + 0?\n\n{SUFFIX}")]),
                               r"short\.jsonl:2: duplicate id 'q0' \(matched by question text\) \(first on line 1\)"),
    "chat ends with the user": (lambda c: write_jsonl(c / "short.jsonl", [{"messages": [{"role": "user", "content": "What is 0 + 0?"}]}]),
                                r"short\.jsonl:1: the last message must be the assistant's \(the response\), got role 'user'"),
    "alpaca without instruction text": (lambda c: write_jsonl(c / "short.jsonl", [{"instruction": " ", "output": "x"}]),
                                        r"short\.jsonl:1: field 'instruction' is empty"),
    "no id, no question": (lambda c: write_jsonl(c / "short.jsonl", [{"response": "x"}]),
                           r"short\.jsonl:1: missing field 'id' \(and no 'question' to match a task question by\)"),
    "unreadable parquet": (lambda c: (c / "short.parquet").write_bytes(b"not a parquet file"),
                           r"short\.parquet: unreadable parquet \(ArrowInvalid: "),
    "duplicate id in parquet": (lambda c: write_parquet(c / "short.parquet", [{"id": f"q{i}", "response": "x"} for i in (0, 1, 0)]),
                                r"short\.parquet:row 2: duplicate id 'q0' \(first on row 0\)"),
    "null response in parquet": (lambda c: write_parquet(c / "short.parquet", [{"id": "q0", "response": "x"}, {"id": "q1", "response": None}]),
                                 r"short\.parquet:row 1: field 'response' is null"),
    "empty response in a saved dataset": (lambda c: save_to_disk(c / "short", [{"id": "q0", "response": "x"}, {"id": "q1", "response": ""}]),
                                          r"short:row 1: empty response for id 'q1'"),
    "a DatasetDict": (dataset_dict, r"short: a DatasetDict with splits train, test; give one split's folder"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_a_one_line_error_naming_file_and_row(root, case):
    write, message = BAD[case]
    cands = root.parent / "bad"
    cands.mkdir()
    (cands / "steps.jsonl").write_text((root / "candidates" / "steps.jsonl").read_text())
    write(cands)
    with pytest.raises(StylefitError, match=message) as info:
        load_candidates(load_task(root), cands)
    assert "\n" not in str(info.value) and str(cands) in str(info.value)


def test_field_mapping_names_the_fields_and_a_missing_one_is_an_error(root):
    task = load_task(root)
    cands = root.parent / "mapped"
    for name, pairs in plain_rows(root).items():
        write_jsonl(cands / f"{name}.jsonl", [{"uid": r["id"], "prompt": f"{r['question']}?!", "completion": y} for r, y in pairs])
    loaded = load_candidates(task, cands, fields=FieldMap(id="uid", question="prompt", response="completion"))
    assert loaded.candidates("short")[2].prompt == "What is 2 + 2??!"
    assert [c.response for c in loaded.candidates("wordy")] == [y for _, y in plain_rows(root)["wordy"]]
    with pytest.raises(StylefitError, match=r"mapped/short\.jsonl:1: missing field 'answer'$"):
        load_candidates(task, cands, fields=FieldMap(id="uid", response="answer"))
    with pytest.raises(StylefitError, match="the id field must be a non-empty name"):
        FieldMap(id="")


def test_an_ambiguous_question_text_is_an_error(root):
    rows = (root / "train.jsonl").read_text()
    (root / "train.jsonl").write_text(rows + json.dumps({"id": "again", "question": "What is 5 + 2?", "gold": "7"}) + "\n")
    cands = root.parent / "c"
    write_jsonl(cands / "a.jsonl", [chat("What is 5 + 2?")])
    write_jsonl(cands / "b.jsonl", [chat("What is 5 + 2?")])
    with pytest.raises(StylefitError, match=r"a\.jsonl:1: no id, and the question matches 2 questions of task 'tiny-sums' \(again, q5\): give ids"):
        load_candidates(load_task(root), cands)


def test_a_task_split_may_be_parquet_or_a_saved_dataset_with_a_field_mapping(root):
    reference = load_task(root)
    rows = [{"uid": q.id, "prompt": q.question, "answer": int(q.gold), "metadata": {"n": i}} for i, q in enumerate(reference.train)]
    write_parquet(root / "train.parquet", rows)
    tests = [{"uid": f"t{i}", "prompt": f"What is {i} + 7?", "answer": i + 7, "metadata": {}} for i in range(3)]
    save_to_disk(root / "test_split", tests)
    spec = json.loads((root / "task.json").read_text())
    fields = {"id": "uid", "question": "prompt", "gold": "answer"}
    (root / "task.json").write_text(json.dumps(spec | {"train": "train.parquet", "test": "test_split", "fields": fields}))
    task = load_task(root)
    assert task.train == reference.train and [(q.id, q.question, q.gold) for q in task.test] == [
        (f"t{i}", f"What is {i} + 7?", str(i + 7)) for i in range(3)]
    assert task.train[4].metadata == {"n": 4}
    assert load_candidates(task, root / "candidates").by_strategy == load_candidates(reference, root / "candidates").by_strategy

    (root / "task.json").write_text(json.dumps(spec | {"train": "train.parquet"}))  # no mapping: the default fields
    with pytest.raises(StylefitError, match=r"train\.parquet:row 0: missing field 'id'$"):
        load_task(root)
    (root / "task.json").write_text(json.dumps(spec | {"fields": {"response": "x"}}))
    with pytest.raises(StylefitError, match=r"task\.json: fields\.response: Extra inputs are not permitted"):
        load_task(root)


def test_select_cli_on_chat_candidates_with_a_field_mapped_file(root, tmp_path, monkeypatch):
    """The real `stylefit select` on chat JSONL plus one mapped plain file, against the plain set."""
    from typer.testing import CliRunner

    from stylefit.cli import app

    monkeypatch.setenv("STYLEFIT_HOME", str(tmp_path / "home"))
    model = tmp_path / "tiny-model"
    tiny_llama(seed=0).save_pretrained(model)
    char_tokenizer().save_pretrained(model)
    cands = tmp_path / "chat"
    write_format("chat", root, cands)
    (cands / "wordy.jsonl").unlink()
    write_jsonl(cands / "wordy.jsonl", [{"uid": r["id"], "completion": y} for r, y in plain_rows(root)["wordy"]])

    def select(folder, *flags):
        out = tmp_path / f"{folder.name}.json"
        args = ["select", str(root), str(folder), "--model", str(model), "--scorer", "length", "--n", "4", "--device", "cpu",
                "--cache", str(tmp_path / "cache.sqlite"), "--out", str(out), *flags]
        result = CliRunner().invoke(app, args, env={"COLUMNS": "160"})
        assert result.exit_code == 0, result.output + repr(result.exception)
        return json.loads(out.read_text())

    mapped = select(cands, "--id-field", "uid", "--response-field", "completion")
    plain = select(root / "candidates")
    assert mapped["ranking"]["estimates"] == plain["ranking"]["estimates"] and mapped["sample_ids"] == ["q0", "q1", "q2", "q3"]
    assert plain["computed"] == 0  # the same prompts and responses: every score came from the first run's cache

    result = CliRunner().invoke(app, ["select", str(root), str(cands), "--model", str(model), "--scorer", "length"])
    assert isinstance(result.exception, StylefitError) and "wordy.jsonl:1: missing field 'response'" in str(result.exception)


def test_verify_passes_the_field_mapping_to_the_loader(root):
    from typer.testing import CliRunner

    from stylefit import verify
    from stylefit.cli import app

    with pytest.raises(StylefitError, match=r"short\.jsonl:1: missing field 'completion'"):
        verify(root, root / "candidates", targets="unused", fields=FieldMap(response="completion"))
    result = CliRunner().invoke(app, ["verify", str(root), str(root / "candidates"), "--id-field", "uid"])
    assert isinstance(result.exception, StylefitError) and "short.jsonl:1: missing field 'uid'" in str(result.exception)
