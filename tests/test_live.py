"""The live track on tiny real models: generate, fine-tune every strategy and seed, score with every
selector, judge; everything written as committed files that a fresh machine resumes from."""

import json

import numpy as np
import pytest

from conftest import REPO, char_tokenizer, tiny_llama, write_task
from stylefit.bench.live import track as live
from stylefit.bench.live.report import live_markdown
from stylefit.bench.live.track import judge, load_live_config, run_live
from stylefit.core.errors import StylefitError
from stylefit.training.summary import BaseAccuracy, NoiseFloor, StrategyAccuracy, VerifyCase

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def target(tiny_target):
    return tiny_target


def write_config(tmp_path, target, selectors='', extra_case=''):
    root = write_task(tmp_path / "task", n=12)
    rows = [json.loads(line) for line in (root / "train.jsonl").read_text().splitlines()]
    (root / "train.jsonl").write_text("".join(
        json.dumps(r | {"metadata": {"solution": f"{r['question'][8:-1]} = {r['gold']}"}}) + "\n" for r in rows))
    tests = [{"id": f"t{i}", "question": f"What is {i} + 7?", "gold": str(i + 7)} for i in range(4)]  # none is a training question
    (root / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tests))
    (root / "task.json").write_text(json.dumps(json.loads((root / "task.json").read_text()) | {"test": "test.jsonl"}))
    selectors = selectors or '''
[[selectors]]
name = "length"
scorer = "length"
[[selectors]]
name = "random"
scorer = "random"
[[selectors]]
name = "ppl"
scorer = "ppl"
[[selectors]]
name = "proxy"
scorer = "paper_proxy"
params = {n = 4, validation = 2}
'''
    path = tmp_path / "live.toml"
    path.write_text(f'''results = "results"
n_select = 4
seeds = [0, 1]
recipe = {{epochs = 1, batch_size = 4, max_length = 128}}
eval = {{max_new_tokens = 8}}
{selectors}
[[cases]]
name = "tiny"
task = "task"
target = "{target}"
strategies = ["gold", "answer_only"]
n_train = 6
n_test = 4
{extra_case}''')
    return path


def test_the_track_runs_commits_every_result_and_resumes_from_the_files(tmp_path, target):
    path = write_config(tmp_path, target)
    track = run_live(path, store=tmp_path / "cache.sqlite")
    results = tmp_path / "results" / "tiny"
    assert sorted(p.name for p in (results / "candidates").iterdir()) == ["answer_only.jsonl", "gold.jsonl", "manifest.json"]
    runs = [json.loads(p.read_text()) for p in (results / "runs").glob("*.json")]
    assert sorted((r["strategy"], r["seed"]) for r in runs if r["strategy"]) == \
        [("answer_only", 0), ("answer_only", 1), ("gold", 0), ("gold", 1)]
    assert all(len(r["evaluation"]["items"]) == 4 for r in runs)  # every test item's output is kept
    assert sorted(p.stem for p in (results / "scores").glob("*.json")) == ["length", "ppl", "proxy"]
    proxy = json.loads((results / "scores" / "proxy.json").read_text())
    assert proxy["validation_ids"] == ["q6", "q7"] and proxy["higher_is_better"]  # training questions, never the test split
    case = track["cases"][0]
    assert case["seeds"] == [0, 1] and set(case["accuracy"]) == {"gold", "answer_only"}
    # The tiny target answers no test question after a short fine-tune on either strategy, so the case cannot
    # judge a selector, and says so (judging itself is tested on known accuracies below).
    assert {s: a["per_seed"] for s, a in case["accuracy"].items()} == {"gold": [0.0, 0.0], "answer_only": [0.0, 0.0]}
    assert track["judged_cases"] == 0 and not track["figures"]
    assert track["incomplete"] == ["tiny: every strategy has the same accuracy, so it cannot judge a selector"]

    # A fresh machine (an empty cache) resumes from the committed files: no fine-tuning run is repeated.
    before = {p.name: p.stat().st_mtime_ns for p in (results / "runs").glob("*.json")}
    again = run_live(path, store=tmp_path / "fresh.sqlite", stages=("truth", "selectors"))
    assert {p.name: p.stat().st_mtime_ns for p in (results / "runs").glob("*.json")} == before
    assert again["cases"] == track["cases"]
    assert "## tiny" in live_markdown(again)
    # A selector whose settings changed is scored again; the others are not.
    length = results / "scores" / "length.json"
    stamp = length.stat().st_mtime_ns
    config = load_live_config(path)
    config.n_select = 5
    run_live(config, store=tmp_path / "fresh.sqlite", stages=("selectors",))
    assert length.stat().st_mtime_ns != stamp and json.loads(length.read_text())["asked"]["n_select"] == 5
    # ... and so is every selector once a candidate set is written again with other responses.
    stamp = length.stat().st_mtime_ns
    gold = results / "candidates" / "gold.jsonl"
    gold.write_text(gold.read_text().replace("Final Answer:", "So the Final Answer:"))
    run_live(config, store=tmp_path / "fresh.sqlite", stages=("selectors",))
    assert length.stat().st_mtime_ns != stamp

    # Judging alone computes nothing and writes the report.
    from typer.testing import CliRunner

    from stylefit.cli import app

    ran = CliRunner().invoke(app, ["bench", "live", str(path), "--judge-only", "--out", str(tmp_path / "report")])
    assert ran.exit_code == 0, ran.output
    assert json.loads((tmp_path / "report" / "live_track.json").read_text())["cases"][0]["case"] == "tiny"
    assert "## tiny (" in (tmp_path / "report" / "live_track.md").read_text()


def test_judging_a_selector_added_later_needs_no_retraining(tmp_path, target, monkeypatch):
    path = write_config(tmp_path, target)
    config = load_live_config(path)
    truth = VerifyCase("tiny", target, "r", "strict", 300, [
        StrategyAccuracy("gold", 1, [0, 1], [0.5, 0.6], [0.5, 0.6], [0.5, 0.6], 0.55, 0.55, 0.55, 0.07, 0.03, 0.04, 0.47, 0.63, True, 0, 0),
        StrategyAccuracy("answer_only", 2, [0, 1], [0.2, 0.2], [0.2, 0.2], [0.2, 0.2], 0.2, 0.2, 0.2, 0.0, 0.02, 0.02, 0.16, 0.24, False, 0, 0)],
        [], NoiseFloor(0.05, 0.03, 0.06, 0.25), BaseAccuracy(0.1, 0.1, 0.1, 0.02, 0), [])
    monkeypatch.setattr(live, "case_truth", lambda config, case: (truth, {"gold:seed0": 1.0}, {"gold:seed0": "cpu"}, {"gold:seed0": (0, 0)}))
    scores = tmp_path / "results" / "tiny" / "scores"
    scores.mkdir(parents=True)
    candidates = tmp_path / "results" / "tiny" / "candidates"  # what judging reads besides the runs: the responses
    candidates.mkdir()
    for name, text in (("gold", "{i} = 1"), ("answer_only", "Final Answer: {i}")):
        (candidates / f"{name}.jsonl").write_text("".join(json.dumps({"id": f"q{i}", "response": text.format(i=i)}) + "\n" for i in range(6)))
    for name, means, higher in (("length", {"gold": 9.0, "answer_only": 4.0}, False), ("ppl", {"gold": 2.0, "answer_only": 5.0}, False),
                                ("proxy", {"gold": 0.1, "answer_only": 0.3}, True)):
        (scores / f"{name}.json").write_text(json.dumps({"means": means, "higher_is_better": higher, "seconds": 1.0, "device": "cpu",
                                                          "asked": live._asked(config, config.cases[0], next(x for x in config.selectors if x.name == name))}))
    track = judge(config)
    outcomes = {name: o[0] for name, o in track["outcomes"].items()}
    assert outcomes["ppl"]["hit"] == 1.0 and outcomes["ppl"]["regret_points"] == 0.0  # lower ppl = gold = the best
    assert outcomes["length"]["hit"] == 0.0 and outcomes["length"]["regret_points"] == pytest.approx(35.0)
    assert outcomes["proxy"]["spearman"] == -1.0 and outcomes["random"]["hit"] == 0.5 and outcomes["random"]["spearman"] == 0.0
    assert track["cases"][0]["picks"] == {"length": ["answer_only"], "random": ["gold", "answer_only"], "ppl": ["gold"], "proxy": ["answer_only"]}
    assert track["paired"]["ppl"]["length"]["regret_points"]["estimate"] == pytest.approx(35.0)
    # ... and the HTML report draws the case's accuracies and quality against cost
    from stylefit.bench.live.html import write_live_report

    html = write_live_report(track, tmp_path / "html").read_text()
    assert html.count("<svg") == 2 and "weighted ρ" in html and "<td>ppl</td>" in html
    assert np.isnan(track["figures"]["ppl"]["weighted_spearman"]["low"])  # one case: no interval, never a made-up one
    (scores / "ppl.json").unlink()
    assert judge(config)["incomplete"] == ["tiny: selector scores incomplete (3/4)"]
    # A case whose runs come from a CPU and a GPU is not judged: their answers differ in near ties.
    devices = {"gold:seed0": "cpu", "gold:seed1": "cuda:0"}
    monkeypatch.setattr(live, "case_truth", lambda config, case: (truth, {k: 1.0 for k in devices}, devices, {k: (0, 0) for k in devices}))
    mixed = judge(config)
    assert mixed["judged_cases"] == 0 and mixed["incomplete"] == [
        "tiny: its runs were made on cpu and cuda; bind the case to one (cases.device) and run it again there"]
    assert "Mixed devices, not judged" in live_markdown(mixed)
    assert "Mixed devices, not judged:</strong> this case's runs ran on cpu and cuda" in write_live_report(mixed, tmp_path / "mixed").read_text()


@pytest.mark.parametrize("body,message", [
    ("colour = 1\n", "colour: Extra inputs are not permitted"),
    ("[[cases]]\nname = 'tiny'\ntask = 't'\ntarget = 'm'\nstrategies = ['a', 'b']\n", "case names must be distinct"),
])
def test_bad_configs_are_one_line_errors(tmp_path, target, body, message):
    path = write_config(tmp_path, target)
    path.write_text(path.read_text() + body if body.startswith("[[") else body + path.read_text())
    with pytest.raises(StylefitError, match=message):
        load_live_config(path)


def test_named_selectors_run_alone_and_an_unknown_one_is_refused(tmp_path, target):
    path = write_config(tmp_path, target)
    run_live(path, store=tmp_path / "cache.sqlite", stages=("candidates",))
    run_live(path, store=tmp_path / "cache.sqlite", stages=("selectors",), selectors=["length"])
    assert [p.stem for p in (tmp_path / "results" / "tiny" / "scores").glob("*.json")] == ["length"]
    with pytest.raises(StylefitError, match="unknown selector 'lenght' \\(known: length, random, ppl, proxy\\)"):
        run_live(path, store=tmp_path / "cache.sqlite", stages=("selectors",), selectors=["lenght"])


def test_a_reasoning_gym_generator_writes_disjoint_splits(tmp_path):
    from stylefit.data.task import load_task

    spec = live.ReasoningGymTask(reasoning_gym="chain_sum", train=20, test=10, config={"min_terms": 2, "max_terms": 2})
    task = load_task(live.write_reasoning_gym_task(spec, "cs", tmp_path / "cs"))
    assert len(task.train) == 20 and len(task.test) == 10
    assert not {q.question for q in task.train} & {q.question for q in task.test}
    with pytest.raises(StylefitError, match="reasoning_gym 'no_such_task'"):
        live.write_reasoning_gym_task(live.ReasoningGymTask(reasoning_gym="no_such_task"), "x", tmp_path / "x")


def test_a_routed_set_is_trained_and_reported_beside_the_strategies(tmp_path, target):
    path = write_config(tmp_path, target, extra_case='routed = ["length"]\n')
    track = run_live(path, store=tmp_path / "cache.sqlite", stages=("candidates", "truth"))
    results = tmp_path / "results" / "tiny"
    assert (results / "candidates" / "routed:length.jsonl").is_file()
    runs = [json.loads(p.read_text()) for p in (results / "runs").glob("*.json")]
    assert sorted(r["seed"] for r in runs if r["strategy"] == "routed:length") == [0, 1]
    case = track["cases"][0]
    assert set(case["accuracy"]) == {"gold", "answer_only"}  # the selectors rank only the strategies
    assert case["routed"]["routed:length"]["composition"] == {"answer_only": 1.0}  # the shorter correct response
    assert "routed:length (per-question routing: answer_only 100%)" in live_markdown(track)


def test_the_committed_track_is_its_runs_judged_again_with_every_cut_counted_and_flagged():
    """The committed live_track.json/.md are what judging the committed runs gives now (never stale); every
    run's cut answers are its file's; a run past 2% is flagged where its case is shown; a case whose runs
    mix devices is not judged."""
    import json as json_module

    from stylefit.training.evaluate import looping
    from stylefit.training.summary import cut_flagged

    config = load_live_config(REPO / "benchmarks" / "live" / "live.toml")
    track = judge(config)
    results = REPO / "benchmarks" / "results"
    assert json_module.dumps(track, indent=1, ensure_ascii=False, default=float) + "\n" == (results / "live_track.json").read_text(), \
        "stale live_track.json: run stylefit bench live benchmarks/live/live.toml --judge-only"
    assert live_markdown(track) == (results / "live_track.md").read_text()
    text = live_markdown(track)
    for case in track["cases"]:
        runs = [json_module.loads(p.read_text()) for p in (results / "live" / case["case"] / "runs").glob("*.json")]
        by_label = {(f"{r['strategy']}:seed{r['seed']}" if r["strategy"] else "base"): r["evaluation"] for r in runs}
        assert case["cut"] == {label: by_label[label]["hit_length_limit"] for label in case["cut"]}
        loops = {label: sum(i["finish_reason"] == "length" and looping(i["output"]) for i in by_label[label]["items"]) for label in case["cut"]}
        assert case["looping"] == {label: n for label, n in loops.items() if n}
        assert sorted(case["cut_flagged"]) == sorted(label for label, n in case["cut"].items()
                                                      if cut_flagged(n, case["n_test"], loops[label]))
        if case["cut_flagged"]:
            assert ", ".join(case["cut_flagged"]) in text
        mixed = len({d.split(":")[0] for d in case["devices"].values()}) > 1
        assert not (mixed and case.get("judged"))
        assert (f"{case['case']}: its runs were made on" in " ".join(track["incomplete"])) == mixed
    # the first season's flagged simple_equations runs are gone: the case was rerun under the new budget or is not judged yet
    equations = {c["case"]: c for c in track["cases"]}.get("simple_equations-smollm2")
    assert equations is None or (equations["eval"]["max_new_tokens"] == 640 and not equations["cut_flagged"])


def test_the_cut_flag_is_past_two_percent_of_the_test_answers():
    row = StrategyAccuracy("s", 1, [0, 1], [0.5] * 2, [0.5] * 2, [0.5] * 2, 0.5, 0.5, 0.5, 0.0, 0.03, 0.03, 0.44, 0.56, False, 3.0, 0,
                           cut_per_seed=[6, 0])
    assert not row.cut_flagged(300)  # 2% exactly
    row.cut_per_seed = [0, 7]
    assert row.cut_flagged(300)
    # ... and the verify table marks it.
    from rich.console import Console

    from stylefit.report.verify import case_table
    from stylefit.training.verify import VerifyResult

    case = VerifyCase("tiny", "t", "r", "strict", 300, [row], [], NoiseFloor(0.05, 0.03, 0.06, None), None, [])
    result = VerifyResult("tiny", "strict", [0, 1], {"method": "lora", "lora_rank": 8, "epochs": 1}, {}, 10, [case], [], 0)
    console = Console(record=True, width=250)
    console.print(case_table(case, result))
    assert "s (cut!)" in console.export_text()


def test_a_case_bound_to_its_device_with_a_longer_budget_replaces_its_runs_and_keeps_one_per_seed(tmp_path, target):
    path = write_config(tmp_path, target)
    run_live(path, store=tmp_path / "cache.sqlite", stages=("candidates", "truth"))
    runs = tmp_path / "results" / "tiny" / "runs"
    before = {p.stem: json.loads(p.read_text()) for p in runs.glob("*.json")}
    assert len(before) == 5 and all(r["evaluation"]["hit_length_limit"] for r in before.values())  # the tiny target never stops
    config = load_live_config(path)
    config.earlier_eval_budgets = [8]
    config.cases[0].eval = {"max_new_tokens": 10}
    config.cases[0].device = "cpu"
    said = []
    track = run_live(config, store=tmp_path / "cache.sqlite", stages=("truth",), say=said.append)
    after = {p.stem: json.loads(p.read_text()) for p in runs.glob("*.json")}
    # every answer was cut at 8, so nothing is taken over: each run is made again, and its old file goes
    assert len(after) == 5 and not set(after) & set(before) and all(r["reused"] is None for r in after.values())
    assert all(max(i["n_tokens"] for i in r["evaluation"]["items"]) == 10 for r in after.values())
    assert any("removed 5 superseded run file(s)" in line for line in said)
    assert any("tiny: plan: 5 runs, 0 stored, 5 to run" in line for line in said)  # a log shows the plan, then each run
    assert sum(": stored, accuracy " in line and "answers cut" in line for line in said) == 5
    assert track["cases"][0]["eval"]["max_new_tokens"] == 10 and track["cases"][0]["device"] == "cpu"
    # a grid stopped after its first run leaves runs of the current settings only: the case is incomplete, not an error
    config.cases[0].eval = {"max_new_tokens": 12}

    def stop_after_the_first_run(line: str) -> None:
        if ": stored, accuracy " in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_live(config, store=tmp_path / "cache.sqlite", stages=("truth",), say=stop_after_the_first_run)
    assert len(list(runs.glob("*.json"))) == 1
    assert "tiny: ground truth incomplete" in run_live(config, store=tmp_path / "cache.sqlite", stages=())["incomplete"]
    # bound to a GPU, the case refuses to run on this CPU
    config.cases[0].device = "cuda"
    with pytest.raises(StylefitError, match="case 'tiny': its runs are bound to cuda, and this machine runs on cpu"):
        run_live(config, store=tmp_path / "cache.sqlite", stages=("truth",))
