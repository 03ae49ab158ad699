"""The paper-bench loader: clear errors on bad files, and what it reads from the real bundle."""

import gzip
import json
from pathlib import Path

import pytest

from stylefit.bench.paper import data as paper_data
from stylefit.bench.paper.data import (
    MAIN_BLOCKS,
    ScoreKey,
    load_cases,
    load_paper_bench,
    load_sppl_per_example,
    read_records,
    resolve_bundle_dir,
)
from stylefit.core.errors import StylefitError



@pytest.fixture(scope="module")
def bench(paper_bench):
    return load_paper_bench(paper_bench)


def a_case(**overrides):
    """A small, self-consistent cases.jsonl record (synthetic numbers)."""
    record = {
        "case_id": "mistral/toy",
        "model": "mistral",
        "task": "toy",
        "benchmark": "main17",
        "scored_strategies": ["a", "b"],
        "evaluated_strategies": ["a", "b"],
        "trained_strategies": ["a", "b", "gold_label"],
        "acc_seed0": {"a": 0.5, "b": 0.7, "gold_label": 0.1},
        "acc_seed1": {"a": 0.5, "b": 0.6, "gold_label": None},
        "acc_seed2": {"a": 0.6, "b": 0.8, "gold_label": 0.2},
        "acc_mean3": {"a": (0.5 + 0.5 + 0.6) / 3, "b": (0.7 + 0.6 + 0.8) / 3, "gold_label": (0.1 + 0.2) / 2},
        "sigma_seed0": 0.14142135623730953,
    }
    record.update(overrides)
    return record


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_a_valid_case_loads_with_the_authors_quality(tmp_path):
    (case,) = load_cases(write_lines(tmp_path / "cases.jsonl", [json.dumps(a_case())]))
    assert case.quality["b"] == pytest.approx(0.7)
    assert case.quality["gold_label"] == pytest.approx(0.15)  # missing seed skipped
    assert case.sigma_seed0 == pytest.approx(0.1414213562)  # gold_label excluded


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(StylefitError, match=r"cases\.jsonl: file not found"):
        load_cases(tmp_path / "cases.jsonl")


def test_bad_json_names_file_and_line(tmp_path):
    path = write_lines(tmp_path / "cases.jsonl", [json.dumps(a_case()), "{not json"])
    with pytest.raises(StylefitError, match=r"cases\.jsonl:2: not valid JSON"):
        load_cases(path)


def test_missing_field_names_field_and_line(tmp_path):
    record = a_case()
    del record["sigma_seed0"]
    with pytest.raises(StylefitError, match=r"cases\.jsonl:1: missing field 'sigma_seed0'"):
        load_cases(write_lines(tmp_path / "cases.jsonl", [json.dumps(record)]))


def test_inconsistent_derived_field_is_an_error(tmp_path):
    path = write_lines(tmp_path / "cases.jsonl", [json.dumps(a_case(sigma_seed0=0.5))])
    with pytest.raises(StylefitError, match="sigma_seed0 disagrees"):
        load_cases(path)


def test_duplicate_case_is_an_error(tmp_path):
    path = write_lines(tmp_path / "cases.jsonl", [json.dumps(a_case())] * 2)
    with pytest.raises(StylefitError, match=r":2: duplicate case_id"):
        load_cases(path)


def test_short_per_example_record_is_an_error(tmp_path):
    record = {"model": "m", "task": "t", "metric": "SPPL", "variant": "k2", "source": "s", "strategy": "a",
              "n": 3, "values": [1.0, 2.0]}
    path = tmp_path / "sppl.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    with pytest.raises(StylefitError, match=r"sppl\.jsonl\.gz:1: field 'values' has 2 values, expected 3"):
        load_sppl_per_example(path)


def test_corrupt_gzip_names_the_file(tmp_path):
    path = tmp_path / "sppl.jsonl.gz"
    path.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(StylefitError, match=r"sppl\.jsonl\.gz: unreadable"):
        list(read_records(path))


def test_missing_bundle_folder_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.delenv(paper_data.PAPER_BENCH_ENV, raising=False)
    with pytest.raises(StylefitError, match="--data PATH or set"):
        resolve_bundle_dir(tmp_path / "nowhere")
    monkeypatch.setenv(paper_data.PAPER_BENCH_ENV, str(tmp_path))
    assert resolve_bundle_dir() == tmp_path.resolve()


def test_a_bundle_without_one_file_fails_naming_it(tmp_path):
    (tmp_path / "reference_tables.json").write_text('{"recomputed_shared_cases": {}}')
    with pytest.raises(StylefitError, match=r"cases\.jsonl: file not found"):
        load_paper_bench(tmp_path)


def test_real_bundle_contents(bench):
    main = bench.benchmark_cases("main17")
    assert len(main) == 36 and len(bench.benchmark_cases("planbench6")) == 18
    assert len({c.task for c in main}) == 12
    assert sum(c.sigma_seed0 > 0.04 for c in main) == 9
    for case in main:
        for block in MAIN_BLOCKS:
            bench.block_score(case, ScoreKey("SPPL", "k2"), block)  # present for every strategy
        for s in case.evaluated_strategies:
            assert bench.sppl_per_example[(case.model, case.task, ScoreKey("SPPL", "k2"), s)].shape == (300,)


def test_block_scores_are_means_of_the_per_example_values(bench):
    case = bench.benchmark_cases("main17")[0]
    key = ScoreKey("SPPL", "k2")
    for s in case.evaluated_strategies:
        values = bench.sppl_per_example[(case.model, case.task, key, s)]
        for start, end in MAIN_BLOCKS:
            assert bench.block_score(case, key, (start, end))[s] == pytest.approx(values[start:end].mean(), rel=1e-9)


def test_case_accuracies_agree_with_the_raw_accuracy_files(bench):
    """cases.jsonl holds the raw test accuracies of ground_truth.jsonl rounded to 3 decimals."""
    raw = {}
    for _, record in read_records(bench.root / "ground_truth.jsonl"):
        if record["setting"] == "main" and not record["cross_domain"]:
            raw[(record["model"], record["task"], record["strategy"], record["seed"])] = record["accuracy"]
    checked = 0
    for case in bench.benchmark_cases("main17"):
        for s in case.evaluated_strategies:
            for seed, accuracy in enumerate(case.seed_accuracy[s]):
                assert accuracy == float(f"{raw[(case.model, case.task, s, seed)]:.3f}")
                checked += 1
    assert checked == 3 * sum(len(c.evaluated_strategies) for c in bench.benchmark_cases("main17"))
