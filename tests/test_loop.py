"""`stylefit run`: the whole loop on tiny real models (a random Llama target saved as a local folder,
a parrot teacher), through the real generate, select and verify; resumable; bad configs refused."""

import json

import pytest

from conftest import write_task
from stylefit.core.errors import StylefitError
from stylefit.core.store import Store
from stylefit.loop import RunConfig, _winners, load_config, run
from stylefit.selection import rank_strategies

pytestmark = pytest.mark.usefixtures("one_thread")

RECIPES = '''
[strategy.parrot_fixed]
description = "the parrot answers; a wrong final answer is set to gold"
kind = "teacher"
teacher = "parrot"
prompt = "{question}"
max_new_tokens = 24
retries = 0
fix_final_answer = true

[strategy.parrot_raw]
description = "the parrot answers; wrong answers are kept and flagged"
kind = "teacher"
teacher = "parrot"
prompt = "{question}"
max_new_tokens = 24
retries = 0
'''


@pytest.fixture(scope="module")
def target(tiny_target):
    return tiny_target


@pytest.fixture
def setup(tmp_path, target, parrot_lm):
    root = write_task(tmp_path / "task", n=12)
    # The parrot ("Final Answer: 1") is right where the gold is 1 (q0, q3, q6, q9); every question has a wordy human solution.
    rows = []
    for row in map(json.loads, (root / "train.jsonl").read_text().splitlines()):
        gold = "1" if int(row["id"][1:]) % 3 == 0 else row["gold"]
        rows.append(row | {"gold": gold, "metadata": {"solution": f"Let us think about it slowly and carefully. It is {gold}."}})
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    tests = [{"id": f"t{i}", "question": f"What is {i} + 7?", "gold": str(i + 7)} for i in range(4)]
    (root / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tests))
    (root / "task.json").write_text(json.dumps(json.loads((root / "task.json").read_text()) | {"test": "test.jsonl"}))
    (tmp_path / "recipes.toml").write_text(RECIPES)
    from stylefit.models import load_model

    loaded = []

    def load(name):
        loaded.append(name)
        return parrot_lm if name == "parrot" else load_model(name, device="cpu", dtype="float32")

    def config(body: str = "", **fields):
        values = {"task": "task", "target": target, "recipes": ["recipes.toml"],
                  "strategies": ["parrot_fixed", "parrot_raw", "answer_only"], "n": 6, "full_size": 10, "scorer": "ppl",
                  "bootstrap": 200} | fields
        path = tmp_path / "run.toml"
        path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items() if v is not None) + body)
        return path

    return config, load, loaded


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_loop_generates_ranks_picks_and_writes_a_chat_training_set(setup, tmp_path):
    config, load, loaded = setup
    store = Store(tmp_path / "cache.sqlite")
    out = tmp_path / "out"
    result = run(config(), out=out, store=store, load_model=load)

    for s in ("parrot_fixed", "parrot_raw", "answer_only"):
        assert [r["id"] for r in lines(out / "sample" / f"{s}.jsonl")] == [f"q{i}" for i in range(6)]
    selection = json.loads((out / "selection.json").read_text())
    ranked = [e["strategy"] for e in selection["ranking"]["estimates"]]
    assert sorted(ranked) == ["answer_only", "parrot_fixed", "parrot_raw"] and selection["scorer"] == "ppl"
    assert result.winners == _winners(result_ranking(selection))[0] and result.winners[0] == ranked[0]

    for winner in result.winners:
        full = lines(out / "full" / f"{winner}.jsonl")
        assert [r["id"] for r in full] == [f"q{i}" for i in range(10)]
        name = "training_set.jsonl" if len(result.winners) == 1 else f"training_set.{winner}.jsonl"
        chat = lines(out / name)
        kept = [r for r in full if r["correct"] or r["fixed"]]
        assert len(chat) == len(kept) == result.training_sets[winner]["rows"]
        assert result.training_sets[winner]["left_out"] == len(full) - len(kept)
        assert chat[0]["messages"] == [{"role": "user", "content": "What is 0 + 0? End with 'Final Answer: N'."},
                                       {"role": "assistant", "content": kept[0]["response"]}]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "done" and manifest["winners"] == result.winners and "torch" in manifest["versions"]
    summary = (out / "summary.md").read_text()
    assert result.decision in summary and "## 2. The ranking (N=6" in summary
    assert loaded.count("parrot") == 1  # each model loaded once, whichever step asked

    # A rerun computes nothing and writes the same files.
    before = (out / "training_set.jsonl").read_text() if len(result.winners) == 1 else None
    misses = store.misses
    again = run(config(), out=out, store=store, load_model=load)
    assert store.misses == misses and again.winners == result.winners
    if before is not None:
        assert (out / "training_set.jsonl").read_text() == before


def result_ranking(selection):
    from stylefit.api import SelectionResult

    return SelectionResult.from_dict(selection).ranking


def test_wrong_responses_are_left_out_and_counted_unless_kept(setup, tmp_path):
    config, load, _ = setup
    # Under `length` the parrot's short answers beat the wordy human solutions, separated.
    path = config(strategies=["parrot_raw", "gold"], scorer="length")
    result = run(path, out=tmp_path / "out", store=tmp_path / "c.sqlite", load_model=load)
    assert result.winners == ["parrot_raw"]
    full = lines(tmp_path / "out" / "full" / "parrot_raw.jsonl")
    assert [r["correct"] for r in full] == [i % 3 == 0 for i in range(10)]
    assert result.training_sets["parrot_raw"] == {"path": "training_set.jsonl", "rows": 4, "left_out": 6}
    assert "parrot_raw: 6/10 responses stayed wrong or were cut by the length limit and are left out of training_set.jsonl" in result.notes[0]
    kept = run(config(strategies=["parrot_raw", "gold"], scorer="length", keep_wrong=True), out=tmp_path / "kept",
               store=tmp_path / "c.sqlite", load_model=load)
    assert kept.training_sets["parrot_raw"] == {"path": "training_set.jsonl", "rows": 10, "left_out": 0}


@pytest.mark.parametrize("keep_wrong,trained", [(False, 4), (True, 10)])
def test_verify_trains_on_what_the_training_set_holds(setup, tmp_path, keep_wrong, trained):
    """The winner's full set holds 6 wrong, unfixed responses that training_set.jsonl leaves out: verify leaves them out too."""
    config, load, _ = setup
    body = '[verify]\nbaseline = "gold"\nseeds = [0]\nn_test = 2\nmax_new_tokens = 8\nbase = false\n' \
           '[verify.recipe]\nepochs = 1\nbatch_size = 4\nmax_length = 192\n'
    path = config(body=body, strategies=["parrot_raw", "gold"], scorer="length", keep_wrong=keep_wrong)
    result = run(path, out=tmp_path / "out", store=tmp_path / "c.sqlite", load_model=load)
    assert result.winners == ["parrot_raw"] and result.training_sets["parrot_raw"]["rows"] == trained
    runs = {r["strategy"]: r for r in json.loads((tmp_path / "out" / "verify.json").read_text())["runs"]}
    assert runs["parrot_raw"]["training"]["examples"] == trained and runs["gold"]["training"]["examples"] == 10


def test_verify_fine_tunes_the_winner_and_the_baseline(setup, tmp_path):
    config, load, _ = setup
    body = '[verify]\nbaseline = "gold"\nseeds = [0]\nn_test = 4\nmax_new_tokens = 8\nbase = false\n' \
           '[verify.recipe]\nepochs = 1\nbatch_size = 4\nmax_length = 192\n'
    path = config(body=body, strategies=["answer_only", "gold"], scorer="length")
    out = tmp_path / "out"
    result = run(path, out=out, store=tmp_path / "c.sqlite", load_model=load)
    assert result.winners == ["answer_only"]
    trained = {s["strategy"] for s in result.verify["cases"][0]["strategies"]}
    assert trained == {"answer_only", "gold"}
    assert len(lines(out / "full" / "gold.jsonl")) == 10 and len(lines(out / "training_set.jsonl")) == 10
    assert "## 4. Verification" in (out / "summary.md").read_text()
    assert len(json.loads((out / "verify.json").read_text())["runs"]) == len(trained)


def test_an_output_folder_belongs_to_one_config(setup, tmp_path):
    config, load, _ = setup
    out = tmp_path / "out"
    run(config(), out=out, store=tmp_path / "c.sqlite", load_model=load)
    with pytest.raises(StylefitError, match="holds a run of another config"):
        run(config(n=7), out=out, store=tmp_path / "c.sqlite", load_model=load)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(StylefitError, match="exists and is not a stylefit run"):
        run(config(), out=tmp_path / "other", store=tmp_path / "c.sqlite", load_model=load)


@pytest.mark.parametrize("extra,message", [
    ("colour = 1\n", r"run.toml: colour: Extra inputs are not permitted"),
    ("full_size = 3\n", "full_size=3 is smaller than the sample n=6"),
    ('[teachers]\n"qwen" = "parrot"\n', "teachers: 'qwen' is the teacher of none of the strategies"),
    ('[verify]\nbaseline = "nope"\n', "unknown strategy 'nope'"),
    ('[verify]\nbaseline = "answer_only"\n[verify.recipe]\nepochs = -1\n', r"verify.recipe.epochs: Input should be greater than 0"),
    ("n = [\n", "not valid TOML"),
])
def test_bad_configs_are_one_line_errors_before_any_work(setup, tmp_path, extra, message):
    config, load, loaded = setup
    path = config(body=extra, full_size=None if "full_size" in extra else 10)
    with pytest.raises(StylefitError, match=message):
        run(path, out=tmp_path / "out", store=tmp_path / "c.sqlite", load_model=load)
    assert loaded == [] and not (tmp_path / "out").exists()


def test_a_scorer_that_cannot_run_on_the_task_is_a_one_line_error_before_any_work(setup, tmp_path):
    config, load, loaded = setup
    with pytest.raises(StylefitError, match=r"run.toml: scorer 'ppl': .*'colour'"):
        run(config(body="[scorer_params]\ncolour = 1\n"), out=tmp_path / "out", store=tmp_path / "c.sqlite", load_model=load)
    # the default scorer, the proxy, answers 100 training questions outside the sample: this task has too few
    with pytest.raises(StylefitError, match=r"run.toml: scorer 'proxy' samples n=6 and answers 100 other training "
                                            r"questions, but task 'tiny-sums' has 12 training questions$"):
        run(config(scorer=None), out=tmp_path / "out", store=tmp_path / "c.sqlite", load_model=load)
    assert loaded == [] and not (tmp_path / "out").exists()


def test_winners_follow_the_ranking():
    import numpy as np

    rng = np.random.default_rng(0)
    far = rank_strategies({"a": rng.normal(1, 0.1, 50), "b": rng.normal(5, 0.1, 50)}, higher_is_better=False, n_bootstrap=200)
    assert _winners(far) == (["a"], "a is separated from b at N=50: generating it in full")
    close = rank_strategies({"a": rng.normal(1, 1, 50), "b": rng.normal(1.01, 1, 50), "c": rng.normal(9, 1, 50)},
                            higher_is_better=False, n_bootstrap=200)
    winners, why = _winners(close)
    assert sorted(winners) == ["a", "b"] and "NOT separated" in why
    tied = rank_strategies({"a": np.ones(50), "b": np.ones(50), "c": np.ones(50)}, higher_is_better=False, n_bootstrap=200)
    assert _winners(tied) == (["a", "b", "c"], "3 strategies tie for best at N=50: generating each of them in full")


def test_config_paths_are_read_from_the_config_folder(tmp_path):
    (tmp_path / "sub" / "t").mkdir(parents=True)
    path = tmp_path / "sub" / "run.toml"
    path.write_text('task = "t"\nstrategies = ["a", "b"]\n')
    config = load_config(path)
    assert config.path(config.task) == tmp_path / "sub" / "t" and config.n == 100 and config.scorer == "proxy"
    # the default scorer's sample is the one it was judged on; any other scorer's is 50
    assert RunConfig(task="t", strategies=["a", "b"], scorer="ppl").n == 50
    assert config.key() != RunConfig.model_validate(config.model_dump() | {"n": 51, "source": str(path)}).key()
    assert config.key() == RunConfig.model_validate(config.model_dump() | {"device": "cuda", "source": str(path)}).key()
    path.write_text('task = "../../elsewhere"\nstrategies = ["a", "b"]\n')  # outside its folder, and not there
    with pytest.raises(StylefitError, match=r"run.toml: task: '../../elsewhere' is not there \(looked for .*sub/../../elsewhere; relative"):
        load_config(path)


@pytest.mark.integration
def test_the_cli_runs_the_loop_on_the_bundled_task_with_the_default_model(tmp_path):
    import os
    import subprocess
    import sys

    from conftest import EXAMPLE

    config = tmp_path / "run.toml"
    config.write_text(f'task = "{EXAMPLE}"\nrecipes = ["{EXAMPLE / "strategies.toml"}"]\n'
                      'strategies = ["self_corrected", "worked_steps", "answer_only"]\nn = 4\nfull_size = 8\nscorer = "ppl"\n')
    env = os.environ | {"STYLEFIT_HOME": os.environ.get("STYLEFIT_HOME") or str(tmp_path / "home"), "COLUMNS": "160"}
    args = [sys.executable, "-m", "stylefit", "run", str(config), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c.sqlite")]
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["status"] == "done" and manifest["target"] == "smollm2-135m-instruct"
    assert manifest["decision"] in proc.stdout and "training set:" in proc.stdout
    for winner in manifest["winners"]:
        assert len(lines(tmp_path / "out" / "full" / f"{winner}.jsonl")) == 8
    again = subprocess.run(args + ["--report", str(tmp_path / "report")], capture_output=True, text=True, env=env, timeout=900)
    assert again.returncode == 0 and "0 per-example scores computed" in again.stdout
    html = (tmp_path / "report" / "report.html").read_text()
    assert html.count("<svg") == 2 and "self_corrected" in html  # a rerun reports from the cache
    bad = subprocess.run([sys.executable, "-m", "stylefit", "run", str(tmp_path / "missing.toml")], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "missing.toml: cannot read the run config" in bad.stderr


def test_the_loop_runs_with_the_adaptive_selector(setup, tmp_path):
    config, load, _ = setup
    settings = ('\n[scorer_params]\nscreen = "ppl"\nown_answers_m = 4\nrounds = [{n = 4, epochs = 1, validation = 4}]\n'
                'recipe = {batch_size = 4}\ndtype = "float32"\n')
    result = run(config(body=settings, scorer="adaptive"), out=tmp_path / "out", store=Store(tmp_path / "cache.sqlite"), load_model=load)
    selection = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert [s["name"].split(" (")[0] for s in selection["stages"]] == ["screen", "proxy round 1"]
    assert result.winners == ([selection["best"]] if selection["best"] else selection["tied_best"])
    assert "adaptive selector" in result.decision
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "- screen (ppl): " in summary and "- proxy round 1 (n=4" in summary and result.decision in summary


def test_the_loop_runs_with_the_proxy_on_the_gold_answers_loss(setup, tmp_path):
    # the proxy that the live track's default rule may choose: a short fine-tune per strategy, each judged
    # by how much it lowered the loss of the gold answers of held-out training questions
    config, load, _ = setup
    settings = '\n[scorer_params]\nmeasure = "gold_loss"\nvalidation = 4\nrecipe = {batch_size = 4, epochs = 1}\ndtype = "float32"\n'
    result = run(config(body=settings, scorer="proxy"), out=tmp_path / "out", store=Store(tmp_path / "cache.sqlite"), load_model=load)
    selection = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert (selection["scorer"], selection["scorer_params"]["measure"], selection["computed"]) == ("proxy", "gold_loss", 3)
    assert selection["timings"]["cold_s"] >= selection["timings"]["runs_s"] > 0  # its fine-tunes are its cost
    assert result.winners == ([selection["best"]] if selection["best"] else selection["tied_best"])
    assert (tmp_path / "out" / ("training_set.jsonl" if len(result.winners) == 1 else f"training_set.{result.winners[0]}.jsonl")).is_file()
