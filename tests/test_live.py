"""The live track on tiny real models: generate, fine-tune every strategy and seed, score with every
selector, judge; everything written as committed files that a fresh machine resumes from."""

import json
import math

import numpy as np
import pytest

from conftest import REPO, char_tokenizer, tiny_llama, write_task
from stylefit.bench.live import judge as live_judge
from stylefit.bench.live.config import ReasoningGymTask, load_live_config, write_reasoning_gym_task
from stylefit.bench.live.judge import judge
from stylefit.bench.live.preregistration import AS_REGISTERED
from stylefit.bench.live.report import largest_rho_move, live_markdown
from stylefit.bench.live.selectors import selector_inputs, selector_params
from stylefit.bench.live.track import run_live
from stylefit.core.errors import StylefitError
from stylefit.training.summary import BaseAccuracy, NoiseFloor, StrategyAccuracy, VerifyCase

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def target(tiny_target):
    return tiny_target


TINY_SELECTORS = '''
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


def write_config(tmp_path, target, selectors='', extra_case=''):
    root = write_task(tmp_path / "task", n=12)
    rows = [json.loads(line) for line in (root / "train.jsonl").read_text().splitlines()]
    (root / "train.jsonl").write_text("".join(
        json.dumps(r | {"metadata": {"solution": f"{r['question'][8:-1]} = {r['gold']}"}}) + "\n" for r in rows))
    tests = [{"id": f"t{i}", "question": f"What is {i} + 7?", "gold": str(i + 7)} for i in range(4)]  # none is a training question
    (root / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tests))
    (root / "task.json").write_text(json.dumps(json.loads((root / "task.json").read_text()) | {"test": "test.jsonl"}))
    selectors = selectors or TINY_SELECTORS
    path = tmp_path / "live.toml"
    path.write_text(f'''results = "results"
n_select = 4
seeds = [0, 1]
recipe = {{epochs = 1, batch_size = 4, max_length = 128}}
eval = {{max_new_tokens = 40}}
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


def known_truth(target):
    """A case's ground truth with known accuracies: gold 55%, answer_only 20%."""
    return VerifyCase("tiny", target, "r", "strict", 300, [
        StrategyAccuracy("gold", 1, [0, 1], [0.5, 0.6], [0.5, 0.6], [0.5, 0.6], 0.55, 0.55, 0.55, 0.07, 0.03, 0.04, 0.47, 0.63, True, 0, 0),
        StrategyAccuracy("answer_only", 2, [0, 1], [0.2, 0.2], [0.2, 0.2], [0.2, 0.2], 0.2, 0.2, 0.2, 0.0, 0.02, 0.02, 0.16, 0.24, False, 0, 0)],
        [], NoiseFloor(0.05, 0.03, 0.06, 0.25), BaseAccuracy(0.1, 0.1, 0.1, 0.02, 0), [])


def write_scores(config, case):
    """The candidate sets and every selector's scores of a case, as the track writes them (ppl prefers gold, the others answer_only)."""
    folder = config.path(config.results) / case.name
    (folder / "scores").mkdir(parents=True)
    candidates = folder / "candidates"  # what judging reads besides the runs: the responses
    candidates.mkdir()
    for name, text in (("gold", "{i} = 1"), ("answer_only", "Final Answer: {i}")):
        (candidates / f"{name}.jsonl").write_text("".join(json.dumps({"id": f"q{i}", "response": text.format(i=i)}) + "\n" for i in range(6)))
    for name, means, higher in (("length", {"gold": 9.0, "answer_only": 4.0}, False), ("ppl", {"gold": 2.0, "answer_only": 5.0}, False),
                                ("proxy", {"gold": 0.1, "answer_only": 0.3}, True)):
        (folder / "scores" / f"{name}.json").write_text(json.dumps({
            "means": means, "higher_is_better": higher, "seconds": 1.0, "device": "cpu",
            "asked": selector_inputs(config, case, next(x for x in config.selectors if x.name == name))}))
    return folder / "scores"


def test_judging_a_selector_added_later_needs_no_retraining(tmp_path, target, monkeypatch):
    path = write_config(tmp_path, target)
    config = load_live_config(path)
    truth = known_truth(target)
    monkeypatch.setattr(live_judge, "case_truth", lambda config, case: (truth, {"gold:seed0": 1.0}, {"gold:seed0": "cpu"}, {"gold:seed0": (0, 0)}))
    scores = write_scores(config, config.cases[0])
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
    assert "<td>random</td><td>all 2 tied (no pick)</td>" in html  # a tie of every strategy is no pick, said as such
    assert np.isnan(track["figures"]["ppl"]["weighted_spearman"]["low"])  # one case: no interval, never a made-up one
    (scores / "ppl.json").unlink()
    assert judge(config)["incomplete"] == ["tiny: selector scores incomplete (3/4)"]
    # A case whose runs come from a CPU and a GPU is not judged: their answers differ in near ties.
    devices = {"gold:seed0": "cpu", "gold:seed1": "cuda:0"}
    monkeypatch.setattr(live_judge, "case_truth", lambda config, case: (truth, {k: 1.0 for k in devices}, devices, {k: (0, 0) for k in devices}))
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


def test_a_selector_that_refuses_the_sample_is_recorded_and_judged_as_no_pick(tmp_path, target, monkeypatch):
    """grace needs a question per split: on a 4-question sample it refuses, the selectors after it still run,
    and the judge scores its refusal as every strategy tied (chance), counted and named in the report."""
    refusing = ('[[selectors]]\nname = "grace"\nscorer = "grace"\n[[selectors]]\nname = "length"\nscorer = "length"\n'
                '[[selectors]]\nname = "ppl"\nscorer = "ppl"\n')
    path = write_config(tmp_path, target, selectors=refusing)
    said = []
    run_live(path, store=tmp_path / "cache.sqlite", stages=("candidates", "selectors"), say=said.append)
    scores = tmp_path / "results" / "tiny" / "scores"
    grace = json.loads((scores / "grace.json").read_text())
    assert grace["refused"] == "scorer 'grace': 4 questions cannot fill 10 splits" and "means" not in grace
    assert sorted(p.stem for p in scores.glob("*.json")) == ["grace", "length", "ppl"]
    assert "tiny: selector grace refuses the case: scorer 'grace': 4 questions cannot fill 10 splits" in said
    stamp = (scores / "grace.json").stat().st_mtime_ns  # a refusal is a result: not asked again
    run_live(path, store=tmp_path / "cache.sqlite", stages=("selectors",))
    assert (scores / "grace.json").stat().st_mtime_ns == stamp

    truth = known_truth(target)
    monkeypatch.setattr(live_judge, "case_truth", lambda config, case: (truth, {"gold:seed0": 1.0}, {"gold:seed0": "cpu"}, {"gold:seed0": (0, 0)}))
    track = judge(load_live_config(path))
    case = track["cases"][0]
    assert case["judged"] and case["refused"] == {"grace": grace["refused"]} and case["picks"]["grace"] == []
    assert case["outcomes"]["grace"]["spearman"] == 0.0 and case["outcomes"]["grace"]["hit"] == 0.5  # chance
    assert "grace" not in case["selector_seconds"]  # seconds spent refusing are no cost of selecting
    text = live_markdown(track)
    assert "**Refused:** `grace`: scorer 'grace': 4 questions cannot fill 10 splits." in text
    assert "| grace | refused (no pick) |" in text and "grace on 1 of the 1 judged cases (tiny)" in text


def test_a_selectors_cost_counts_cached_work_and_is_marked_a_lower_bound_where_that_cost_is_unknown(tmp_path, target, monkeypatch):
    import sqlite3

    path = write_config(tmp_path, target, selectors='[[selectors]]\nname = "ppl"\nscorer = "ppl"\n')
    store = tmp_path / "cache.sqlite"
    run_live(path, store=store, stages=("candidates", "selectors"))
    truth = known_truth(target)
    monkeypatch.setattr(live_judge, "case_truth", lambda config, case: (truth, {"gold:seed0": 1.0}, {"gold:seed0": "cpu"}, {"gold:seed0": (0, 0)}))
    assert judge(load_live_config(path))["cases"][0]["selector_seconds_lower_bound"] == []  # every score computed now
    with sqlite3.connect(store) as db:  # as scores stored before the store recorded what they cost
        db.execute("UPDATE results SET seconds = NULL")
    scores = tmp_path / "results" / "tiny" / "scores" / "ppl.json"
    scores.unlink()
    run_live(path, store=store, stages=("selectors",))
    assert json.loads(scores.read_text())["selection"]["unrecorded"] == 4 * 2  # 4 questions x 2 strategies, all cached
    track = judge(load_live_config(path))
    case = track["cases"][0]
    assert case["selector_seconds_lower_bound"] == ["ppl"]
    assert f"| ≥{case['selector_seconds']['ppl']} |" in live_markdown(track)


def test_two_selectors_on_one_scorer_report_progress_on_a_bar_each(tmp_path, target):
    # a bar is keyed by its stage's name: unlabelled, the second ppl selector's scoring added into the
    # first's bar and counted past its total (504/252 in the season's log)
    twice = '[[selectors]]\nname = "ppl"\nscorer = "ppl"\n[[selectors]]\nname = "ppl-again"\nscorer = "ppl"\n'
    path = write_config(tmp_path, target, selectors=twice)
    run_live(path, store=tmp_path / "cache.sqlite", stages=("candidates",))
    bars: dict[str, list[int]] = {}

    def progress(stage, total, advance, tokens=None):
        bars.setdefault(stage, [total, 0])[1] += advance

    run_live(path, store=tmp_path / "cache.sqlite", stages=("selectors",), progress=progress)
    assert {"tiny: ppl: scoring (ppl)", "tiny: ppl-again: scoring (ppl)"} <= set(bars)
    assert all(name.startswith(("tiny: ppl: ", "tiny: ppl-again: ")) for name in bars)
    assert bars["tiny: ppl-again: scoring (ppl)"] == [2 * 4, 2 * 4] and all(done == total for total, done in bars.values())


def test_a_reasoning_gym_generator_writes_disjoint_splits(tmp_path):
    from stylefit.data.task import load_task

    spec = ReasoningGymTask(reasoning_gym="chain_sum", train=20, test=10, config={"min_terms": 2, "max_terms": 2})
    task = load_task(write_reasoning_gym_task(spec, "cs", tmp_path / "cs"))
    assert len(task.train) == 20 and len(task.test) == 10
    assert not {q.question for q in task.train} & {q.question for q in task.test}
    with pytest.raises(StylefitError, match="reasoning_gym 'no_such_task'"):
        write_reasoning_gym_task(ReasoningGymTask(reasoning_gym="no_such_task"), "x", tmp_path / "x")


def test_a_base_model_case_scores_every_selector_in_the_plain_template(tmp_path):
    """A target without a chat template (Gemma-3-270M base) cannot be scored in 'native': the case's
    template goes to every selector that takes one, the rest use the target's own template (GRACE's
    gradients are its training examples'), and the scores files record what was asked."""
    base = tmp_path / "base-target"
    tiny_llama(seed=0).save_pretrained(base)
    tokenizer = char_tokenizer()
    tokenizer.chat_template = None
    tokenizer.save_pretrained(base)
    selectors = "".join(f'[[selectors]]\nname = "{n}"\nscorer = "{sc}"\n{p}' for n, sc, p in [
        ("ppl", "ppl", ""), ("sppl", "sppl", "params = { k = 2, m = 4, max_new_tokens = 8 }\n"),
        ("sppl-paper", "sppl", 'params = { variant = "paper", k = 2, m = 4, max_new_tokens = 8 }\n'),
        ("grace", "grace", "params = { dim = 8, splits = 2 }\n"), ("length", "length", "")])
    path = write_config(tmp_path, str(base), selectors=selectors)
    native = load_live_config(path)
    with pytest.raises(StylefitError, match="has no chat template, so template 'native' cannot be used"):
        run_live(native, store=tmp_path / "cache.sqlite", stages=("candidates", "selectors"), selectors=["ppl"])
    path.write_text(path.read_text().replace('strategies = ["gold", "answer_only"]', 'strategies = ["gold", "answer_only"]\ntemplate = "plain"'))
    run_live(path, store=tmp_path / "cache.sqlite", stages=("candidates", "selectors"))
    asked = {p.stem: json.loads(p.read_text())["asked"]["params"] for p in (tmp_path / "results" / "tiny" / "scores").glob("*.json")}
    assert asked == {"ppl": {"template": "plain"}, "sppl": {"k": 2, "m": 4, "max_new_tokens": 8, "variant": "plain"},
                     "sppl-paper": {"variant": "paper", "k": 2, "m": 4, "max_new_tokens": 8},  # names its own: kept
                     "grace": {"dim": 8, "splits": 2}, "length": {}}
    scores = json.loads((tmp_path / "results" / "tiny" / "scores" / "ppl.json").read_text())
    assert scores["selection"]["scorer_params"] == {"template": "plain"}, scores["selection"].keys()


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


def assert_same_json(a, b, why: str, where: str = "") -> None:
    """The same JSON value, its floats equal to a relative 1e-9."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"{why}: {where}: {a} != {b}"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), f"{why}: {where}: keys differ"
        for key in a:
            assert_same_json(a[key], b[key], why, f"{where}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{why}: {where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_json(x, y, why, f"{where}[{i}]")
    else:
        assert a == b, f"{why}: {where}: {a!r} != {b!r}"


def test_the_committed_track_is_its_runs_judged_again_with_every_cut_counted_and_flagged(committed_track):
    """The committed live_track.json/.md are what judging the committed runs gives now (never stale); every
    run's cut answers are its file's; a run past 2% is flagged where its case is shown; a case whose runs
    mix devices is not judged."""
    import json as json_module

    from stylefit.training.evaluate import looping
    from stylefit.training.summary import cut_flagged

    track = committed_track
    results = REPO / "benchmarks" / "results"
    # equal up to the last bits of a float, which a numpy or scipy release may move (a stale file moves far more)
    judged_now = json_module.loads(json_module.dumps(track, ensure_ascii=False, default=float))
    assert_same_json(judged_now, json_module.loads((results / "live_track.json").read_text()),
                     "stale live_track.json: run stylefit bench live benchmarks/live/live.toml --judge-only")
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
        assert case["sigma_below_noise"] == (case["sigma"] < case["noise"]["run_sd"])
        section = text.split(f"## {case['case']} (")[1].split("\n## ")[0]
        assert ("**σ is below the noise floor:**" in section) == case["sigma_below_noise"]
        assert (f"{case['case']}: its runs were made on" in " ".join(track["incomplete"])) == mixed
    # the first season's flagged simple_equations runs (at 128 tokens) are gone; at 640 one run is still flagged, its
    # uncut-by-a-loop answers runaway counts (README): a new flag anywhere fails here
    flagged = {c["case"]: c["cut_flagged"] for c in track["cases"] if c["cut_flagged"]}
    # word_sequence_reversal-smollm2 (2026-12-05): the fine-tuned model writes qwen_rationale's rationales past the
    # budget (1.25x its longest training target), in both seeds; flagged, not yet probed
    # number_sorting-smollm2 (2026-12-05): the same in qwen_rationale's seed 0 (21 of 300 cut at 704, 12 of them in a
    # loop; seed 1 has 14, 13 in a loop, under the flag), once its ground truth is complete (self_rationale was added)
    # family_relationships-gemma (2026-12-06): the untrained base model (Gemma-3-270M, plain template) runs 228 of its
    # 300 answers to the 384-token budget, 23 of them outside a loop; the base is no strategy, so no figure moves
    # word_sequence_reversal-gemma (2026-12-07): the base model and the two strategies trained on its own few uncut
    # answers (self_corrected 7 examples, self_paraphrase 12) run most answers to the 448-token budget, both seeds;
    # qwen_rationale's seed 1 writes 29 of its 40 cut answers outside a loop (seed 0: 4 of 24, under the flag)
    complete = {c["case"] for c in track["cases"]}
    assert flagged == {"simple_equations-smollm2": ["self_style:seed0"],
                       "word_sequence_reversal-smollm2": ["qwen_rationale:seed0", "qwen_rationale:seed1"],
                       "family_relationships-gemma": ["base"],
                       "word_sequence_reversal-gemma": ["base", "qwen_rationale:seed1", "self_corrected:seed0", "self_corrected:seed1",
                                                        "self_paraphrase:seed0", "self_paraphrase:seed1"]} | (
                      {"number_sorting-smollm2": ["qwen_rationale:seed0"]} if "number_sorting-smollm2" in complete else {})
    gemma = live_markdown(track).split("## family_relationships-gemma")[1].split("\n## ")[0]
    assert "The base model is no strategy" in gemma and "may measure the length limit" not in gemma
    assert {c["case"]: c for c in track["cases"]}["simple_equations-smollm2"]["eval"]["max_new_tokens"] == 640
    # ... and what its cut answers could change: however they ended, only strategies within the case's noise
    # of each other could swap, and where none can, no selector's ρ on the case moves; but in word_sequence_reversal the
    # cut strategy could land anywhere (up to 57%): only pairs with it could swap, and the track's figures move
    # with it, by what the text says; so in word_sequence_reversal-gemma, where the strategies trained on the base
    # model's own few answers run most of theirs past the budget (could reach 39% and 58%) and qwen_rationale's seed 1 its
    # rationales: only pairs with one of them could swap
    may_land_anywhere = {"word_sequence_reversal-smollm2": {"qwen_rationale"},
                         "word_sequence_reversal-gemma": {"qwen_rationale", "self_corrected", "self_paraphrase"}}
    for case in track["cases"]:
        if case["case"] in may_land_anywhere:
            assert case["cut_bound"]["could_swap"] and all(set(pair) & may_land_anywhere[case["case"]]
                                                           for pair in case["cut_bound"]["could_swap"])
            continue
        for a, b in case["cut_bound"]["could_swap"]:
            assert abs(case["accuracy"][a]["mean"] - case["accuracy"][b]["mean"]) < case["noise"]["run_sd"], (case["case"], a, b)
        if case.get("judged") and not case["cut_bound"]["could_swap"]:
            # nothing can swap, so no rank and no ρ can move (products-smollm2-no_solution, where self_steps' cut
            # answers could lift it past self_rationale, within noise, moves ρ by up to 0.04: the text says so)
            assert all(abs(c["spearman"]) < 1e-9 for c in case["cut_bound"]["changes_if_right"].values()), case["case"]
        low, high = case["cut_bound"]["strategies"].get("self_style", (0, 0))
        assert case["case"] != "simple_equations-smollm2" or high < min(a["mean"] for s, a in case["accuracy"].items() if s != "self_style")
    worst, move = largest_rho_move(track)
    assert f"no selector's weighted ρ moves by more than {move:.3f} ({worst})" in text
    # a probe of a flagged run answered exactly its cut answers again, after fine-tuning the same run (its key)
    for case in track["cases"]:
        for probe in case["cut_probes"]:
            run = next(json_module.loads(p.read_text()) for p in (results / "live" / case["case"] / "runs").glob("*.json")
                       if json_module.loads(p.read_text())["key"] == probe["run_key"])
            assert f"{run['strategy']}:seed{run['seed']}" == probe["run"] and probe["budget"] == case["eval"]["max_new_tokens"]
            assert probe["cut_not_looping"] == case["cut"][probe["run"]] - case["looping"].get(probe["run"], 0)
            assert f"Probed (benchmarks/live/cut_probe.py): {probe['run']}" in text


def test_cut_answers_bound_a_strategy_and_name_the_pairs_that_could_swap():
    from stylefit.training.summary import cut_bounds, pairs_that_could_swap

    def row(name, accuracies, cut, loops, right):
        mean = sum(accuracies) / len(accuracies)
        return StrategyAccuracy(name, 1, [0, 1], accuracies, accuracies, accuracies, mean, mean, mean, 0.0, 0.03, 0.03, 0.4, 0.6,
                                False, 0.0, 0, cut_per_seed=cut, looping_per_seed=loops, cut_right_per_seed=right)

    rows = [row("a", [0.50, 0.52], [0, 0], [0, 0], [0, 0]), row("b", [0.40, 0.40], [30, 6], [0, 6], [0, 0]),
            row("c", [0.99, 0.99], [9, 0], [0, 0], [0, 0]), row("d", [0.20, 0.20], [0, 6], [0, 0], [0, 3])]
    bounds = cut_bounds(rows, n_test=300)
    means = {r.strategy: r.mean for r in rows}
    assert bounds["a"] == pytest.approx((0.51, 0.51))
    assert bounds["b"] == pytest.approx((0.40, 0.45))  # 30 more right in seed 0; seed 1's cut answers all loop
    assert bounds["c"] == pytest.approx((0.99, 0.995))  # seed 0 at most every answer right: 100%, not 102%
    assert bounds["d"] == pytest.approx((0.195, 0.205))  # 3 of seed 1's 6 are right as they stand: a longer answer could turn them
    assert pairs_that_could_swap(means, bounds) == []
    bounds["b"] = (0.40, 0.51)  # b could reach a: a tie at the top is a changed order
    assert pairs_that_could_swap(means, bounds) == [("a", "b")]
    assert pairs_that_could_swap({"x": 0.3, "y": 0.3}, {"x": (0.3, 0.3), "y": (0.3, 0.31)}) == [("x", "y")]  # a tie that could break
    assert pairs_that_could_swap({"x": 0.3, "y": 0.3}, {"x": (0.3, 0.3), "y": (0.3, 0.3)}) == []


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


def test_a_proxy_fine_tunes_with_the_cases_max_length_only_where_its_own_refuses_an_example(tmp_path, target):
    # the tiny case's training examples are 60 to 80 tokens long; the track's max_length is 128
    proxy = '[[selectors]]\nname = "proxy"\nscorer = "proxy"\nparams = {{validation = 2, recipe = {{epochs = 1, max_length = {}}}}}\n'
    for registered, used in ((100, 100), (40, 128)):
        path = write_config(tmp_path / str(registered), target, selectors=proxy.format(registered))
        run_live(path, store=tmp_path / "cache.sqlite", stages=("candidates",))
        config = load_live_config(path)
        params = selector_params(config, config.cases[0], config.selectors[0])
        assert params["recipe"] == {"epochs": 1, "max_length": used} and params["validation"] == 2
    # the proxy scored with the raised limit, and the judge and the report say so
    track = run_live(path, store=tmp_path / "cache.sqlite", stages=("truth", "selectors"))
    scores = json.loads((tmp_path / "40" / "results" / "tiny" / "scores" / "proxy.json").read_text())
    assert scores["asked"]["params"]["recipe"]["max_length"] == 128 and track["cases"][0]["length_guard"] == {"proxy": [40, 128]}
    assert "`proxy` fine-tuned with max_length 128, not 40" in live_markdown(track)


def test_a_case_bound_to_its_device_with_a_longer_budget_replaces_its_runs_and_keeps_one_per_seed(tmp_path, target):
    path = write_config(tmp_path, target)
    run_live(path, store=tmp_path / "cache.sqlite", stages=("candidates", "truth"))
    runs = tmp_path / "results" / "tiny" / "runs"
    before = {p.stem: json.loads(p.read_text()) for p in runs.glob("*.json")}
    assert len(before) == 5 and all(r["evaluation"]["hit_length_limit"] for r in before.values())  # the tiny target never stops
    config = load_live_config(path)
    config.earlier_eval_budgets = [40]
    config.cases[0].eval = {"max_new_tokens": 44}
    config.cases[0].device = "cpu"
    said = []
    track = run_live(config, store=tmp_path / "cache.sqlite", stages=("truth",), say=said.append)
    after = {p.stem: json.loads(p.read_text()) for p in runs.glob("*.json")}
    # every answer was cut at 40, so nothing is taken over: each run is made again, and its old file goes
    assert len(after) == 5 and not set(after) & set(before) and all(r["reused"] is None for r in after.values())
    assert all(max(i["n_tokens"] for i in r["evaluation"]["items"]) == 44 for r in after.values())
    assert any("removed 5 superseded run file(s)" in line for line in said)
    assert any("tiny: plan: 5 runs, 0 stored, 5 to run" in line for line in said)  # a log shows the plan, then each run
    assert sum(": stored, accuracy " in line and "answers cut" in line for line in said) == 5
    assert track["cases"][0]["eval"]["max_new_tokens"] == 44 and track["cases"][0]["device"] == "cpu"
    # a grid stopped after its first run leaves runs of the current settings only: the case is incomplete, not an error
    config.cases[0].eval = {"max_new_tokens": 48}

    def stop_after_the_first_run(line: str) -> None:
        if ": stored, accuracy " in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_live(config, store=tmp_path / "cache.sqlite", stages=("truth",), say=stop_after_the_first_run)
    assert len(list(runs.glob("*.json"))) == 1
    assert "tiny: ground truth incomplete (0 of its 4 strategy runs committed; bound to cpu)" in run_live(config, store=tmp_path / "cache.sqlite", stages=())["incomplete"]
    # a budget that would cut answers as long as the training targets is refused before any run
    config.cases[0].eval = {"max_new_tokens": 8}
    with pytest.raises(StylefitError, match=r"case 'tiny': .*max_new_tokens=8\) leaves less than 1.25x its longest training "
                                            r"target \(25 tokens, strategy '.*'\); set max_new_tokens >= 32 before any run"):
        run_live(config, store=tmp_path / "cache.sqlite", stages=("truth",))
    assert len(list(runs.glob("*.json"))) == 1  # nothing pruned, nothing run
    config.cases[0].eval = {"max_new_tokens": 48}
    # bound to a GPU, the case refuses to run on this CPU
    config.cases[0].device = "cuda"
    with pytest.raises(StylefitError, match="case 'tiny': its runs are bound to cuda, and this machine runs on cpu"):
        run_live(config, store=tmp_path / "cache.sqlite", stages=("truth",))


def git(repo, *args):
    import subprocess

    subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t", "-c", "commit.gpgsign=false", *args],
                   check=True, capture_output=True)


def commit(repo, message):
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def write_run(path, content="", reused=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"content": content, "reused": reused and {"key": reused, "max_new_tokens": 128}}))
    return path


def test_a_case_is_preregistered_only_when_every_run_file_was_first_committed_after_the_registration(tmp_path):
    from stylefit.bench.live.preregistration import Registration

    repo, long = tmp_path / "repo", "x" * 4000  # long: files git pairs as a rename when moved
    results = repo / "results"
    git(tmp_path, "init", "-q", str(repo))
    early = write_run(results / "early" / "runs" / "a.json")
    write_run(results / "taken" / "runs" / "old.json", long)
    write_run(results / "moved" / "runs" / "w.json", long + "w")
    commit(repo, "runs before the registration")
    registration = repo / "preregistration.toml"
    registration.write_text('recommended = "ppl"\n')
    together = write_run(results / "together" / "runs" / "t.json")
    commit(repo, "the registration, with a run")
    late = write_run(results / "late" / "runs" / "b.json")
    # taken over under a larger budget: a new file (too unlike its origin for git to see a rename) naming the run it is
    taken = write_run(results / "taken" / "runs" / "new.json", "short", reused="old")
    (results / "taken" / "runs" / "old.json").unlink()
    (results / "moved" / "runs" / "w.json").rename(results / "moved" / "runs" / "z.json")  # git sees a rename: z is w
    commit(repo, "runs after it")
    uncommitted = write_run(results / "late" / "runs" / "e.json")

    reg = Registration(registration)
    assert reg.commit is not None and reg.reason == "" and not reg.changed
    assert reg.case([late], results) == (True, "all 1 of its run files were first committed after the registration's commit")
    for runs, why in (([early], "1 of its 1 run files were first committed in a commit that does not follow the registration's "
                                "(before it, with it, or off its line of history), e.g. a.json"),
                      ([together], "does not follow the registration's"),  # a run committed with the registration is not after it
                      ([late, uncommitted], "1 of its 2 run files cannot be traced in git, e.g. e.json (not committed)"),
                      ([taken], "e.g. new.json (taken over from an earlier run)"),
                      ([results / "moved" / "runs" / "z.json"], "e.g. z.json"),
                      ([], "no run files")):
        preregistered, reason = reg.case(runs, results)
        assert not preregistered and why in reason, reason
    # an edit after the registration changes nothing: the registered text is what is judged, and the edit is reported
    registration.write_text('recommended = "length"\n')
    edited = Registration(registration)
    assert edited.changed and edited.text == 'recommended = "ppl"\n' and edited.case([late], results)[0]
    # no registration commit, or no repository: nothing is pre-registered, and the reason says why
    fresh = tmp_path / "fresh"
    git(tmp_path, "init", "-q", str(fresh))
    write_run(fresh / "r" / "runs" / "a.json")
    commit(fresh, "a run, and a registration never committed")
    (fresh / "preregistration.toml").write_text("")
    assert Registration(fresh / "preregistration.toml").case([fresh / "r" / "runs" / "a.json"], fresh / "r") == \
        (False, "preregistration.toml is not committed, so no run can follow the registration")
    outside = tmp_path / "plain"  # in no repository
    outside.mkdir()
    (outside / "preregistration.toml").write_text("")
    preregistered, reason = Registration(outside / "preregistration.toml").case([early], results)
    assert not preregistered and reason.startswith("preregistration.toml is not in a git repository (")


# the tiny track's selectors, but proxy registered with n = 5: the track runs it with 4
REGISTRATION = 'recommended = "random"\n' + TINY_SELECTORS.replace("n = 4,", "n = 5,") + '''[season]
min_judged_cases = 2
min_new_cases = 1
min_task_families = 1
min_non_arithmetic_families = 0
min_targets = 1
min_cases_without_programmatic_solution = 0
min_cases_target_answers_nothing = 1
answers_nothing_below = 0.05
[season.per_case]
min_strategies = 2
min_seeds = 2
min_test_questions = 300
[season.judging]
figure = "weighted_spearman"
case_weights = "sigma"
recommended_first = true
'''


def test_preregistered_cases_are_judged_on_their_own_by_the_selectors_as_registered(tmp_path, target, monkeypatch):
    git(tmp_path, "init", "-q", str(tmp_path))
    second = "\n".join(line for line in write_config(tmp_path, target).read_text().split("[[cases]]")[1].splitlines()
                       if not line.startswith("name")).replace("\n", '\nname = "tiny2"\n', 1)
    path = write_config(tmp_path, target, extra_case="\n[[cases]]" + second)
    config = load_live_config(path)
    config.preregistration = "preregistration.toml"
    truth = known_truth(target)
    monkeypatch.setattr(live_judge, "case_truth", lambda config, case: (truth, {"gold:seed0": 1.0}, {"gold:seed0": "cpu"}, {"gold:seed0": (0, 0)}))
    for case in config.cases:
        write_scores(config, case)
    results = tmp_path / "results"
    write_run(results / "tiny" / "runs" / "a.json")
    commit(tmp_path, "the first case's runs")
    (tmp_path / "preregistration.toml").write_text(REGISTRATION)
    commit(tmp_path, "the registration")
    write_run(results / "tiny2" / "runs" / "b.json")
    commit(tmp_path, "the second case's runs")

    track = judge(config)
    rows = {row["case"]: row for row in track["cases"]}
    assert not rows["tiny"]["preregistered"] and "does not follow the registration's" in rows["tiny"]["preregistration_reason"]
    assert rows["tiny2"]["preregistered"] and track["judged_cases"] == 2 and "proxy" in track["figures"]
    # proxy runs with n = 4 and was registered with n = 5: flagged, and out of the pre-registered figures
    assert track["preregistration"]["selectors"]["proxy"].startswith("its settings differ from the registration")
    assert {name for name, why in track["preregistration"]["selectors"].items() if why == "as registered"} == {"length", "random", "ppl"}
    new, old = track["groups"]["preregistered"], track["groups"]["development"]
    assert (new["cases"], old["cases"]) == (["tiny2"], ["tiny"])
    assert list(new["figures"]) == ["random", "length", "ppl"]  # the recommended first, then the registration's order
    # the pre-registered cases pair every selector to the recommended one too, the development cases only to the references
    assert list(old["figures"]) == ["length", "random", "ppl", "proxy"] and list(old["paired"]) == ["ppl"]
    assert list(new["paired"]) == ["random", "ppl"] and list(new["paired"]["random"]) == ["length", "ppl"]
    assert new["figures"]["ppl"]["weighted_spearman"]["estimate"] == 1.0
    season = {r["requirement"]: r for r in track["preregistration"]["season"]}
    assert season["judged cases in all"] == {"requirement": "judged cases in all", "required": 2, "have": 2, "met": True}
    # the tiny task is a folder of its own, not a reasoning-gym family: never counted as non-arithmetic
    assert season["non-arithmetic task families (by reasoning-gym's categories)"]["have"] == 0
    assert [row["task_category"] for row in track["cases"]] == [None, None]
    assert season["judged pre-registered cases with at least 2 distinct strategies, 2 seeds and 300 test questions"]["met"]
    # both cases train one target on one task: it is named as short of the two tasks issue 25 asks of each target
    each = season["targets judged on at least 2 task families each (issue 25; not in the registration)"]
    assert (each["have"], each["met"], each["short"]) == (0, False, [f"{target} 1"])
    text = live_markdown(track)
    assert "Development case, not pre-registered: 1 of its 1 run files" in text and "\nPre-registered: all 1 of its run files" in text
    assert "## Pre-registered cases (second season)" in text and "Judged pre-registered cases: 1 (tiny2)" in text
    assert "- `proxy`: its settings differ from the registration" in text and "## Development cases (first season)" in text
    from stylefit.bench.live.html import write_live_report

    html = write_live_report(track, tmp_path / "html").read_text()
    assert "1 judged pre-registered case(s): tiny2" in html and "Paired to the recommended selector, random" in html
    assert html.count("<tr>", html.index("Paired to the recommended selector")) >= 3  # its header, length's and ppl's rows
    assert "<h2>Which selector stylefit run decides with</h2>" not in html  # this track names no default rule
    # with no pre-registered case, the group says so and has no figures
    write_run(results / "tiny2" / "runs" / "c.json")  # not committed
    none = judge(config)["groups"]["preregistered"]
    assert none["judged_cases"] == 0 and none["figures"] == {} and none["note"].startswith("no judged case's run files")
    assert "None yet: no judged case's run files all follow the registration's commit." in live_markdown(judge(config))


@pytest.fixture(scope="module")
def committed_track():
    """The committed track judged now. The registration check reads git's history; in a checkout without
    it (no .git, a shallow clone: CI may run in one) every case must come out not pre-registered, saying
    why, and the rest of the judgement must be the committed one: the committed reasons are put back so
    that the files are compared whole."""
    import json as json_module

    from stylefit.bench.live.preregistration import Registration

    track = judge(load_live_config(REPO / "benchmarks" / "live" / "live.toml"))
    registration = Registration(REPO / "benchmarks" / "live" / "preregistration.toml")
    if registration.commit is None:
        assert all(not c["preregistered"] and c["preregistration_reason"] == registration.reason for c in track["cases"])
        assert not track["preregistration"]["registered"] and track["preregistration"]["reason"] == registration.reason
        committed = json_module.loads((REPO / "benchmarks" / "results" / "live_track.json").read_text())
        for case, was in zip(track["cases"], committed["cases"]):
            case["preregistered"], case["preregistration_reason"] = was["preregistered"], was["preregistration_reason"]
        # which cases are pre-registered decides the groups and the season's counts: without git they cannot be
        # checked here, so they are the committed ones (the full-history checkout checks them)
        track["groups"] = committed["groups"]
        track["default_rule"] = committed["default_rule"]  # the default rule judges the pre-registered cases alone
        track["preregistration"] |= {k: committed["preregistration"][k]
                                     for k in ("registered", "reason", "changed_since_registration", "season")}
    return track


FIRST_SEASON = {"chain_sum-smollm2", "products-smollm2", "simple_equations-smollm2", "chain_sum-qwen"}


ARITHMETIC_SECOND_SEASON = {"basic_arithmetic-smollm2", "products-smollm2-no_solution"}


def test_the_first_season_cases_are_development_cases_and_the_registration_names_the_tracks_selectors(committed_track):
    import tomllib

    registered = tomllib.loads((REPO / "benchmarks" / "live" / "preregistration.toml").read_text())
    live_toml = tomllib.loads((REPO / "benchmarks" / "live" / "live.toml").read_text())
    assert registered["recommended"] == "adaptive"
    assert registered["selectors"] == live_toml["selectors"]  # the recommended one first, in both
    assert registered["selectors"][0] == {"name": "adaptive", "scorer": "adaptive", "params": {}}
    assert all(verdict == AS_REGISTERED for verdict in committed_track["preregistration"]["selectors"].values())
    # every case of live.toml is judged or said to be incomplete, with why
    unjudged = dict(line.split(": ", 1) for line in committed_track["incomplete"])
    assert {c["case"] for c in committed_track["cases"]} | set(unjudged) == {c["name"] for c in live_toml["cases"]}
    first_season = {c["case"] for c in committed_track["cases"] if c["case"] in FIRST_SEASON}
    assert first_season == FIRST_SEASON
    for case in committed_track["cases"]:  # every one of the first season's runs was committed long before the registration
        if case["case"] in FIRST_SEASON:
            assert not case["preregistered"] and "does not follow the registration's" in case["preregistration_reason"], case["case"]
    assert committed_track["preregistration"]["registered"] and not committed_track["preregistration"]["changed_since_registration"]
    new = [c["case"] for c in committed_track["cases"] if c["preregistered"] and c.get("judged")]  # a case waiting for its selectors is not judged yet
    assert committed_track["groups"]["preregistered"]["judged_cases"] == len(new)
    if not new:
        assert committed_track["groups"]["development"]["figures"] == committed_track["figures"]
    # the second season's cases: no strategy of theirs reads a worked solution (from their candidates' manifests),
    # and reasoning-gym files their families as not arithmetic, except basic_arithmetic and the twelfth case's products
    second = [c for c in load_live_config(REPO / "benchmarks" / "live" / "live.toml").cases if c.name not in FIRST_SEASON]
    assert {c.name for c in second} >= {"word_sequence_reversal-smollm2", "family_relationships-smollm2", "basic_arithmetic-smollm2"}
    for case in second:  # a case whose candidates are not written yet has no manifest: unknown, and not judged
        folder = REPO / "benchmarks" / "results" / "live" / case.name / "candidates"
        assert live_judge.needing_solutions(folder, case.strategies) == ([] if (folder / "manifest.json").is_file() else None), case.name
        assert (folder / "manifest.json").is_file() or case.name in unjudged
        assert (live_judge.task_category(case) in live_judge.ARITHMETIC) == (case.name in ARITHMETIC_SECOND_SEASON), case.name
    # what the season asks of its families and strategy sets, counted from reasoning-gym's categories and the manifests:
    # the first season is arithmetic (simple_equations is reasoning-gym's algebra) and has gold in every case
    rows = {row["case"]: row for row in committed_track["cases"] if row["case"] in FIRST_SEASON}
    assert {name: row["task_category"] for name, row in rows.items()} == {
        "chain_sum-smollm2": "arithmetic", "products-smollm2": "arithmetic", "simple_equations-smollm2": "algebra", "chain_sum-qwen": "arithmetic"}
    assert all({"gold", "verbose"} <= set(row["needing_solutions"]) and "answer_only" not in row["needing_solutions"] for row in rows.values())
    season = {r["requirement"]: r for r in committed_track["preregistration"]["season"]}
    judged_second = [row for row in committed_track["cases"] if row["case"] not in FIRST_SEASON and row.get("judged")]
    assert season["non-arithmetic task families (by reasoning-gym's categories)"]["have"] == len(
        {row["case"].rsplit("-", 1)[0] for row in judged_second if row["task_category"] not in live_judge.ARITHMETIC})
    assert season["cases without a programmatic solution strategy"]["have"] == len(judged_second)


def test_a_run_copied_from_another_strategy_keeps_the_file_it_copies_and_a_larger_budget_replaces_its_own(tmp_path):
    from stylefit.bench.live.runs import CommittedRuns
    from stylefit.training.grid import RUN_KIND

    folder, said = tmp_path / "runs", []
    folder.mkdir()
    store = CommittedRuns(tmp_path / "s.sqlite", folder, said.append)

    def run(key, strategy, reused=None):
        return {"key": key, "label": f"t:{strategy}:seed0", "evaluation": {"accuracy_strict": 0.5, "hit_length_limit": 0, "n": 4},
                "timings": {}, "device": "cpu", "reused": reused}

    store.put_many(RUN_KIND, {"a": run("a", "short")})
    store.put_many(RUN_KIND, {"b": run("b", "twin", {"key": "a", "max_new_tokens": 8, "strategy": "short"})})
    assert sorted(p.stem for p in folder.glob("*.json")) == ["a", "b"] and "the run of short (the same training examples)" in said[-1]
    store.put_many(RUN_KIND, {"c": run("c", "short", {"key": "a", "max_new_tokens": 8})})
    assert sorted(p.stem for p in folder.glob("*.json")) == ["b", "c"] and ": taken over, accuracy 50.0%" in said[-1]


def test_the_committed_proxy_size_analysis_is_the_committed_track_read_again():
    """benchmarks/live/proxy_size.py (exploratory) reads the committed track: its files are current, and its
    proxy and proxy-paper figures per case are the judge's own."""
    import importlib.util
    import json as json_module

    spec = importlib.util.spec_from_file_location("proxy_size", REPO / "benchmarks" / "live" / "proxy_size.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = REPO / "benchmarks" / "results"
    track = json_module.loads((results / "live_track.json").read_text())
    result = module.analyse(track)
    assert module.markdown(result) == (results / "proxy_size.md").read_text(), "stale: run python benchmarks/live/proxy_size.py"
    judged = {c["case"]: c for c in track["cases"] if c.get("judged")}
    assert [row["case"] for row in result["cases"]] == list(judged)
    for row in result["cases"]:
        for name, selector in (("proxy (50 examples)", "proxy"), ("proxy-paper (100 examples)", "proxy-paper")):
            mine, judge_says = row["proxies"][name], judged[row["case"]]["outcomes"][selector]
            assert mine["spearman"] == pytest.approx(judge_says["spearman"]) and mine["regret_points"] == pytest.approx(judge_says["regret_points"])


def test_a_selector_scored_on_fewer_questions_than_asked_says_so_with_the_count(committed_track):
    """A question with a cut response in any strategy is left out for every strategy: the track counts what
    each selector scored against its files' own sample, and names every shortfall where the case is shown."""
    results = REPO / "benchmarks" / "results" / "live"
    text = live_markdown(committed_track)
    shortfalls = 0
    for case in committed_track["cases"]:
        for name, (scored, asked) in case.get("selector_questions", {}).items():
            data = json.loads((results / case["case"] / "scores" / f"{name}.json").read_text())
            selection = data.get("selection") or data["adaptive"]["screen"]
            if data["asked"]["scorer"] != "proxy":  # a proxy's sample_ids are its held-out questions, not those it trained on
                assert len(selection["sample_ids"]) == scored
            assert asked == data["asked"]["n_select"] and scored <= asked
            if scored < asked:
                shortfalls += 1
                section = text.split(f"## {case['case']} (")[1].split("\n## ")[0]
                assert f"{scored} of {asked} (" in section and name in section.split("**Fewer questions scored than asked:**")[1]
    assert shortfalls  # the second season's self strategies cut responses: some case must show one
    gemma = {c["case"]: c for c in committed_track["cases"]}["family_relationships-gemma"]["selector_questions"]
    assert gemma["ppl"] == [5, 50]  # 45 of the first 50 questions have a self strategy's response cut


def test_a_proxy_scored_from_another_proxys_stored_fine_tunes_costs_them_too():
    """Before a proxy's seconds counted its fine-tunes at their own cost, the second of two proxies that share them
    (they differ only in measure) was timed reading them from the store; the judge counts the first's seconds too."""
    from stylefit.bench.live.selectors import shared_fine_tune_costs

    def scored(computed, seconds, validation=100, measure="accuracy", runs_s=None):
        timings = {"total_s": 1.0} | ({"runs_s": runs_s} if runs_s is not None else {})
        return {"seconds": seconds, "selection": {"scorer_params": {"measure": measure, "validation": validation},
                                                  "computed": computed, "timings": timings}}
    proxies = {"proxy": scored(8, 900.0), "proxy-gold_loss": scored(1, 30.0, measure="gold_loss"),
               "proxy-short": scored(1, 5.0, validation=10)}  # other runs: its own
    assert shared_fine_tune_costs(proxies) == {"proxy-gold_loss": (930.0, "proxy")}
    proxies["proxy-gold_loss"] = scored(9, 950.0, measure="gold_loss", runs_s=950.0)  # scored since: its seconds are its runs' already
    assert shared_fine_tune_costs(proxies) == {}


def test_the_committed_tracks_page_says_what_stylefit_run_decides_with(committed_track, tmp_path):
    from stylefit.bench.live.html import write_live_report

    html = write_live_report(committed_track, tmp_path).read_text()
    rule = committed_track["default_rule"]
    section = html[html.index("<h2>Which selector stylefit run decides with</h2>"):]
    assert f"chooses {rule['default']}" in section and f"(selector {rule['run_selector']})" in section
