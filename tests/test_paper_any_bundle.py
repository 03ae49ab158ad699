"""`stylefit bench paper` on bundles other than the shared one: subsets of tasks, cases or files.

Each bundle is built in tmp_path from the shared one (records filtered by case or task, .gz
files re-compressed; nothing is copied into the repo), then run through the real command.
The reproduction must run only where reference_tables.json covers the bundle's cases, fail
the command when it runs and mismatches, and everything else must degrade into a counted,
explained "missing" / "not computed", never a traceback.
"""

import dataclasses
import functools
import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stylefit.bench.cli import bench_app
from stylefit.bench.paper.data import load_paper_bench
from stylefit.bench.paper.tables import compare_with_reference, recompute_tables, reference_coverage
from stylefit.bench.paper.track import run_paper_track
from stylefit.core.errors import StylefitError

# The files the paper track reads; records name their case by (model, task), or by task only.
DATA_FILES = (
    "cases.jsonl",
    "metric_scores_blocks.jsonl.gz",
    "sppl_per_example.jsonl.gz",
    "skywork_per_example.jsonl.gz",
    "ground_truth.jsonl",
    "candidates.jsonl.gz",
)
FAST = ["--resamples", "100", "--draws", "3"]  # the figures' precision is not under test here


@functools.lru_cache(maxsize=None)
def shared_records(path: Path) -> tuple[tuple[str, dict], ...]:
    """(line, record) of one shared file, parsed once per test session."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return tuple((line, json.loads(line)) for line in f if line.strip())


def build_bundle(shared: Path, dest: Path, keep_case=lambda case: True, keep_record=lambda name, record: True,
                 drop=(), reference="shared") -> Path:
    """A bundle of the shared one's cases for which keep_case(record) holds, with the records of
    those cases (keep_record may drop more), without the files in `drop`. reference: "shared"
    (the shared reference_tables.json, read in place), None (absent) or a dict to write."""
    dest.mkdir()
    cases = [r for _, r in shared_records(shared / "cases.jsonl") if keep_case(r)]
    kept_cases, kept_tasks = {(c["model"], c["task"]) for c in cases}, {c["task"] for c in cases}
    for name in DATA_FILES:
        if name in drop:
            continue
        lines = [
            line for line, r in shared_records(shared / name)
            if ((r["model"], r["task"]) in kept_cases if "model" in r else r["task"] in kept_tasks)
            and keep_record(name, r)
        ]
        text = "".join(lines)
        if name.endswith(".gz"):
            with gzip.open(dest / name, "wt", encoding="utf-8", compresslevel=1) as f:
                f.write(text)
        else:
            (dest / name).write_text(text, encoding="utf-8")
    if reference == "shared":
        (dest / "reference_tables.json").symlink_to(shared / "reference_tables.json")
    elif reference is not None:
        (dest / "reference_tables.json").write_text(json.dumps(reference), encoding="utf-8")
    return dest


def run_cli(bundle: Path, out: Path, *options: str):
    result = CliRunner().invoke(bench_app, ["paper", "--data", str(bundle), "--out", str(out), *FAST, *options])
    results = json.loads((out / "paper_track.json").read_text()) if (out / "paper_track.json").exists() else None
    markdown = (out / "paper_track.md").read_text() if (out / "paper_track.md").exists() else ""
    return result, results, markdown


def one_line(text: str) -> str:
    """The terminal output without rich's line wrapping."""
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------
# Subsets of cases


def test_a_subset_of_tasks_without_reference_tables_is_judged_on_exactly_its_cases(tmp_path, paper_bench):
    tasks = {"gsm8k", "ecqa", "api_bank"}
    bundle = build_bundle(paper_bench, tmp_path / "bundle", keep_case=lambda c: c["task"] in tasks, reference=None)
    result, results, markdown = run_cli(bundle, tmp_path / "out")

    assert result.exit_code == 0, result.output
    assert "reproduction of reference_tables: skipped: reference_tables.json is not in the bundle" in one_line(result.output)
    reproduction = results["reproduction"]
    assert reproduction["tables"]["reference_tables"] == {"skipped": "reference_tables.json is not in the bundle"}
    assert reproduction["tables"]["published_planbench"] == {"skipped": "reference_tables.json is not in the bundle"}
    assert reproduction["paper_formula_sppl"] == {"skipped": "reference_tables.json is not in the bundle"}
    assert markdown.count("skipped: reference_tables.json is not in the bundle") == 3

    cases = load_paper_bench(bundle).benchmark_cases("main17")
    assert {c.task for c in cases} == tasks and len(cases) == 9
    assert results["settings"]["n_cases"] == 9 and results["settings"]["n_tasks"] == 3
    assert results["settings"]["bootstrap"]["n_resamples"] == 100
    assert results["judging"]["all"]["n_cases"] == 9
    assert results["judging"]["sigma_gt_4"]["n_cases"] == sum(c.sigma_seed0 > 0.04 for c in cases)
    for selector in results["selectors"]:  # every case is scored or counted missing, none else
        assert selector["n_cases"] + len(selector["missing_cases"]) == 9
        assert set(selector["missing_cases"]) <= {c.case_id for c in cases}
    oracle = results["judging"]["all"]["selectors"]["upper bound (oracle)"]["figures"]["top1_accuracy_points"]
    expected = 100 * sum(max(c.accuracies()) for c in cases) / len(cases)
    assert oracle["estimate"] == pytest.approx(expected)
    assert "9 = 3 tasks × 3 target models" in markdown


def test_a_sigma_subset_without_one_model_leaves_that_column_empty(tmp_path, paper_bench):
    """Before the fix this crashed in numpy (np.mean of [None, None, None]) while recomputing the
    paper's per-model columns for σ > 4 without a qwen case."""
    tasks = {"gsm8k", "math_algebra", "arc_challenge", "api_bank"}  # qwen has one case above 4 points: api_bank
    bundle = build_bundle(
        paper_bench, tmp_path / "bundle",
        keep_case=lambda c: c["task"] in tasks and not (c["model"] == "qwen" and c["sigma_seed0"] > 0.04),
    )
    result, results, markdown = run_cli(bundle, tmp_path / "out")

    assert result.exit_code == 0, result.output
    assert results["settings"]["n_cases"] == 11
    sigma4 = results["judging"]["sigma_gt_4"]
    assert sigma4["n_cases"] == 7  # mistral 4, llama_3_instruct 3
    for name, row in sigma4["selectors"].items():
        assert row["top1_accuracy_points_by_model"]["qwen"] is None, name
    reference = sigma4["selectors"]["SPPL k=2 (paper)"]["top1_accuracy_points_by_model"]
    assert reference["mistral"] is not None and reference["llama_3_instruct"] is not None
    assert results["judging"]["all"]["selectors"]["SPPL k=2 (paper)"]["top1_accuracy_points_by_model"]["qwen"] is not None

    # The shared reference tables are present but cover the 36 shared cases, not these 11.
    skipped = results["reproduction"]["paper_formula_sppl"]["skipped"]
    assert "cover 36 cases, the bundle has 11" in skipped
    assert f"skipped: {skipped}" in markdown and "11 of 4 tasks and 3 target models" in markdown

    # The paper's own recomputation has the same empty column (this is where it crashed).
    rows = recompute_tables(load_paper_bench(bundle), "published_config", "main17")
    for row in (r for r in rows if r["subset"] == "std_gt_4pct"):
        assert row["qwen"] is None and row["mistral"] is not None, row["row"]
        if "per_block" in row:
            assert all(b["qwen"] is None for b in row["per_block"])


def test_a_bundle_without_planbench_reproduces_the_main_tables_only(tmp_path, paper_bench):
    bundle = build_bundle(paper_bench, tmp_path / "bundle", keep_case=lambda c: c["benchmark"] == "main17")
    result, results, markdown = run_cli(bundle, tmp_path / "out")

    assert result.exit_code == 0, result.output
    reference = results["reproduction"]["tables"]["reference_tables"]
    assert reference["matches"] and reference["benchmarks"] == ["main17"]
    assert reference["n_numbers_compared"] == 2048 - 512  # the full bundle's count less the PlanBench tables
    assert reference["skipped_benchmarks"] == {"planbench6": "the bundle has no planbench6 case"}
    assert results["reproduction"]["tables"]["published_planbench"] == {"skipped": "the bundle has no planbench6 case"}
    output = one_line(result.output)
    assert "reproduction of reference_tables: match" in output
    assert "reproduction of published_planbench: skipped: the bundle has no planbench6 case" in output
    assert "4 configurations × main tables" in markdown
    assert "PlanBench tables skipped: the bundle has no planbench6 case" in markdown
    # The main cases are the shared ones, so the paper-formula figures are the README's.
    formula = results["reproduction"]["paper_formula_sppl"]
    assert formula["all"]["avg_acc_points"] == pytest.approx(62.04, abs=0.005)
    assert formula["all"]["weighted_spearman"] == pytest.approx(0.316, abs=0.0005)
    assert formula["sigma_gt_4"]["weighted_spearman"] == pytest.approx(0.411, abs=0.0005)


def test_an_altered_reference_number_fails_the_command_after_writing_the_results(tmp_path, paper_bench):
    """All 18 PlanBench cases (so the shared tables cover them) and one main task (not covered)."""
    reference = json.loads((paper_bench / "reference_tables.json").read_text())
    rows = reference["recomputed_shared_cases"]["published_config"]["planbench6"]["rows"]
    row = next(r for r in rows if r["subset"] == "all" and r["row"] == "SPPL")
    row["avg_acc"] += 0.5
    bundle = build_bundle(paper_bench, tmp_path / "bundle", reference=reference,
                          keep_case=lambda c: c["benchmark"] == "planbench6" or c["task"] == "gsm8k")
    result, results, markdown = run_cli(bundle, tmp_path / "out")

    assert result.exit_code != 0
    assert isinstance(result.exception, StylefitError)
    message = str(result.exception)
    assert "\n" not in message
    assert "reference_tables: 1 of 512 numbers differ" in message
    assert "published_config/planbench6/all/SPPL/avg_acc" in message
    assert "published_planbench" not in message  # that table still matches
    tables = results["reproduction"]["tables"]  # written before failing
    assert tables["reference_tables"]["n_mismatches"] == 1 and tables["reference_tables"]["benchmarks"] == ["planbench6"]
    assert "cover 36 cases, the bundle has 3" in tables["reference_tables"]["skipped_benchmarks"]["main17"]
    assert tables["published_planbench"]["matches"]
    assert "**1 MISMATCHES**" in markdown
    assert "reproduction of reference_tables: 1 mismatches" in one_line(result.output)

    # The same bundle with the true number passes.
    row["avg_acc"] -= 0.5
    (bundle / "reference_tables.json").write_text(json.dumps(reference), encoding="utf-8")
    result, results, _ = run_cli(bundle, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert results["reproduction"]["tables"]["reference_tables"]["matches"]


def test_reference_tables_that_do_not_list_their_cases_are_not_assumed_to_cover(tmp_path, paper_bench):
    bench = load_paper_bench(build_bundle(paper_bench, tmp_path / "bundle", keep_case=lambda c: c["task"] == "boolq"))
    assert "cover 36 cases, the bundle has 3" in reference_coverage(bench, "main17")
    unlisted = {k: v for k, v in bench.reference_tables.items() if k != "shared_cases_main17"}
    why = reference_coverage(dataclasses.replace(bench, reference_tables=unlisted), "main17")
    assert why == "reference_tables.json does not list the cases of its main17 tables (no 'shared_cases_main17')"
    with pytest.raises(StylefitError, match="not in the bundle"):
        compare_with_reference(dataclasses.replace(bench, reference_tables=None))


# ---------------------------------------------------------------------------------------------
# Too little data: counted and explained, never a traceback


def test_a_one_task_bundle_reports_what_it_cannot_compute(tmp_path, paper_bench):
    """squad: sigma 1.4 / 1.5 / 2.0 points, so one case above 2 points and none above 4."""
    bundle = build_bundle(paper_bench, tmp_path / "bundle", keep_case=lambda c: c["task"] == "squad", reference=None)
    result, results, markdown = run_cli(bundle, tmp_path / "out")

    assert result.exit_code == 0, result.output
    ridge = next(s for s in results["selectors"] if s["fitted_leave_one_task_out"])
    assert ridge["n_cases"] == 0 and len(ridge["missing_cases"]) == 3
    needs_two = "not computed: leave-one-task-out needs cases of >= 2 tasks, the bundle has 1"
    assert set(ridge["missing_cases"].values()) == {needs_two}
    judging = results["judging"]
    assert judging["all"]["n_cases"] == 3 and judging["all"]["not_computed"] is None
    assert judging["sigma_gt_2"]["n_cases"] == 1
    assert judging["sigma_gt_2"]["not_computed"].startswith("intervals not computed: 1 case")
    assert judging["sigma_gt_4"]["n_cases"] == 0
    assert judging["sigma_gt_4"]["not_computed"] == "not computed: no case in this subset"
    one = judging["sigma_gt_2"]["selectors"]["SPPL k=2 (paper)"]["figures"]["top1_accuracy_points"]
    assert one["estimate"] is not None and one["low"] is None  # a value, but no interval from 1 case
    curve = results["sample_size_curve"]["300"]["subsets"]
    assert curve["sigma_gt_4"] == {"n_cases": 0, "aggregates": {}}
    assert "Not computed: no case in this subset." in markdown
    assert "subset sigma_gt_4: not computed: no case in this subset" in one_line(result.output)
    verdict = markdown.split("## 2. Headline")[1].split("|")[0]
    assert "are not computed (no case in common)" in verdict


def test_missing_optional_files_and_scores_are_reported_per_selector(tmp_path, paper_bench):
    absent = ("sppl_per_example.jsonl.gz", "skywork_per_example.jsonl.gz", "ground_truth.jsonl", "candidates.jsonl.gz")
    bundle = build_bundle(
        paper_bench, tmp_path / "bundle",
        keep_case=lambda c: c["task"] in {"gsm8k", "boolq"},
        keep_record=lambda name, r: r.get("metric") != "skywork",  # no reward scores either
        drop=absent, reference=None,
    )
    result, results, markdown = run_cli(bundle, tmp_path / "out")

    assert result.exit_code == 0, result.output
    assert results["settings"]["absent_optional_files"] == ["reference_tables.json", *absent]
    selectors = {s["name"]: s for s in results["selectors"]}
    expected = {
        "train-on-100 proxy": "ground_truth.jsonl is not in the bundle",
        "length: shorter first": "candidates.jsonl.gz is not in the bundle",
        "SPPL median": "sppl_per_example.jsonl.gz is not in the bundle",
    }
    for name, why in expected.items():
        assert selectors[name]["n_cases"] == 0 and set(selectors[name]["missing_cases"].values()) == {why}, name
    assert selectors["reward (Skywork)"]["n_cases"] == 0
    assert all("no ScoreKey(metric='skywork'" in why for why in selectors["reward (Skywork)"]["missing_cases"].values())
    ridge = selectors["ridge on 4 metrics (LOTO)"]
    assert all(why.startswith("not computed: fit without") for why in ridge["missing_cases"].values())
    assert selectors["SPPL k=2 (paper)"]["n_cases"] == 6 and selectors["perplexity"]["n_cases"] == 6

    curve = results["settings"]["sample_size_curve"]
    assert curve["not_computed"] == "not computed: no case has per-example SPPL k=2 (6 cases left out)"
    assert results["sample_size_curve"] == {}
    assert "Not computed: no case has per-example SPPL k=2" in markdown
    assert "**train-on-100 proxy**: 6 cases left out" in markdown
    assert "Absent optional files" in markdown
    headline = {r["selector"]: r for r in results["headline"]}
    assert headline["SPPL median"]["n_beaten"] == 0  # undefined gaps are not wins


def test_a_missing_required_file_is_one_line_naming_it(tmp_path, paper_bench):
    bundle = build_bundle(paper_bench, tmp_path / "bundle", keep_case=lambda c: c["task"] == "boolq",
                          drop=("metric_scores_blocks.jsonl.gz",))
    result, _, _ = run_cli(bundle, tmp_path / "out")
    assert result.exit_code != 0 and isinstance(result.exception, StylefitError)
    assert str(result.exception) == f"{bundle.resolve() / 'metric_scores_blocks.jsonl.gz'}: file not found"


def test_a_bundle_without_main_cases_says_so(tmp_path, paper_bench):
    bundle = build_bundle(paper_bench, tmp_path / "bundle", keep_case=lambda c: c["benchmark"] == "planbench6")
    result, _, _ = run_cli(bundle, tmp_path / "out")
    assert result.exit_code != 0 and isinstance(result.exception, StylefitError)
    assert "no case of benchmark 'main17' (the bundle has planbench6)" in str(result.exception)
    assert not (tmp_path / "out" / "paper_track.json").exists()


def test_run_paper_track_on_a_subset_is_deterministic(tmp_path, paper_bench):
    tasks = {"gsm8k", "mbpp"}
    bundle = build_bundle(paper_bench, tmp_path / "bundle", keep_case=lambda c: c["task"] in tasks, reference=None)
    first = run_paper_track(bundle, n_resamples=50, n_draws=2)
    assert first == run_paper_track(bundle, n_resamples=50, n_draws=2)
    assert first["settings"]["n_cases"] == 6 and first["settings"]["sample_size_curve"]["n_cases"] == 6
