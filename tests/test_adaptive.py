"""The adaptive selector on a tiny real model: the shortlist, the regime check, the budget, resuming."""

import tomllib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import write_task
from stylefit.selection.adaptive import JUDGED_RECIPE, AdaptiveSettings, ProxyRound, select_adaptive, shortlist, steps_per_run
from stylefit.selection.bootstrap import rank_strategies

REPO = Path(__file__).resolve().parents[1]
# Small rounds for a tiny target: the screen samples 8 questions, the rounds train on 4 then 8.
TINY = {"screen": "ppl", "own_answers_m": 4, "rounds": [{"n": 4, "epochs": 1, "validation": 4}, {"n": 8, "epochs": 1, "validation": 6}],
        "recipe": {"batch_size": 4}, "dtype": "float32", "n_bootstrap": 500}


def test_the_defaults_are_the_preregistered_parameters():
    pre = tomllib.loads((REPO / "benchmarks" / "adaptive" / "preregistration.toml").read_text())
    d = AdaptiveSettings()
    assert (d.screen, d.screen_params) == (pre["screen"]["scorer"], pre["screen"]["params"])
    assert (d.keep_top, d.keep_inseparable, d.min_keep) == (pre["shortlist"]["keep_top"], pre["shortlist"]["keep_inseparable"],
                                                            pre["shortlist"]["min_keep"])
    assert (d.min_own_accuracy, d.max_length_rho) == (pre["regime"]["min_own_accuracy"], pre["regime"]["max_length_rho"])
    assert d.rounds == [ProxyRound(**r) for r in pre["rounds"]]
    assert (d.budget_steps, d.budget_s) == (pre["budget"]["steps"], pre["budget"]["seconds"])


def test_the_default_recipe_is_the_one_the_live_track_judged_and_fields_given_change_only_themselves():
    from stylefit.bench.live.config import load_live_config
    from stylefit.bench.live.selectors import proxy_rounds_recipe

    track = proxy_rounds_recipe(load_live_config(REPO / "benchmarks" / "live" / "live.toml"), None)
    assert AdaptiveSettings().recipe == track == JUDGED_RECIPE  # `select --scorer adaptive` is the judged selector
    assert AdaptiveSettings(recipe={"batch_size": 4}).recipe == track | {"batch_size": 4}


def table_of(values: dict[str, np.ndarray]):
    from stylefit.selection.adaptive import _table

    settings = AdaptiveSettings(n_bootstrap=2000)
    return _table(rank_strategies(values, higher_is_better=True, n_bootstrap=2000), values, settings)


def test_the_shortlist_keeps_every_strategy_the_screen_cannot_separate_from_the_leader():
    rng = np.random.default_rng(0)
    n = 60
    leader = 1.0 + rng.normal(0, 0.05, n)
    values = {"a": leader, "b": leader - 0.5,  # clearly behind, by the same amount on every question
              "c": leader - 0.3 + rng.normal(0, 3.0, n),  # behind on average, but too noisy to separate
              "d": leader - 0.8}
    table = table_of(values)
    assert [row["strategy"] for row in table][0] == "a"
    kept, dropped = shortlist(table, keep_top=1, keep_inseparable=True)
    assert kept == ["a", "c"] and sorted(dropped) == ["b", "d"]
    assert "outside the screen's top 1, behind a" in dropped["b"]
    # without the rule, only the top k stay
    kept, dropped = shortlist(table, keep_top=2, keep_inseparable=False)
    assert len(kept) == 2 and len(dropped) == 2


def test_the_order_keeps_ties_together_and_puts_later_drops_first():
    from stylefit.selection.adaptive import _tiers

    table = [{"strategy": "a", "rank": 1}, {"strategy": "b", "rank": 1}, {"strategy": "c", "rank": 3}, {"strategy": "d", "rank": 4}]
    assert _tiers(table, {"a", "b", "c"}) == [["a", "b"], ["c"]] and _tiers(table, {"d"}) == [["d"]]


def test_steps_per_run_counts_a_partial_batch():
    assert steps_per_run(25, 1, 8) == 4 and steps_per_run(50, 2, 8) == 14 and steps_per_run(8, 1, 4) == 2


@pytest.fixture
def task_root(tmp_path):
    return write_task(tmp_path / "task", n=24)


def test_a_target_that_solves_nothing_sends_every_strategy_to_the_proxy_and_the_rounds_run(task_root, tmp_path, tiny_target, one_thread):
    result = select_adaptive(task_root, task_root / "candidates", target=tiny_target, settings=TINY, n=8, store=tmp_path / "s.sqlite")
    screen, *rounds = result.stages
    assert any("regime: the target answers 0/4 training questions correctly" in note for note in screen.notes)
    assert sorted(screen.kept) == ["short", "steps", "wordy"] and not screen.dropped  # every strategy goes on
    assert len(rounds) >= 1 and rounds[0].computed == 3
    assert rounds[0].cost.steps == 3 * steps_per_run(4, 1, 4)  # what the runs recorded, exactly
    assert sorted(result.order) == ["short", "steps", "wordy"] and result.tied_best and 0 < result.p_best <= 1
    # strategies tied for best share the top preference (a tie is judged as a tie, not by list order)
    assert {result.preference[s] for s in result.tied_best} == {max(result.preference.values())}
    last_n = [4, 8][len(rounds) - 1]  # what the proxy on every strategy costs at the last round's settings
    assert result.proxy_on_all.steps == 3 * steps_per_run(last_n, 1, 4)
    # a rerun computes nothing: every fine-tune comes from the store
    again = select_adaptive(task_root, task_root / "candidates", target=tiny_target, settings=TINY, n=8, store=tmp_path / "s.sqlite")
    assert [s.computed for s in again.stages[1:]] == [0] * len(rounds) and again.order == result.order


def test_a_sample_shrunk_by_cut_responses_is_costed_by_the_steps_its_rounds_take(task_root, tmp_path, tiny_target, one_thread):
    import json

    # four of the eight sampled questions have a cut response: both rounds train on the four left, one step each
    wordy = task_root / "candidates" / "wordy.jsonl"
    rows = [json.loads(line) for line in wordy.read_text().splitlines()]
    wordy.write_text("".join(json.dumps(r | ({"truncated": True} if i in (1, 3, 5, 7) else {})) + "\n" for i, r in enumerate(rows)))
    result = select_adaptive(task_root, task_root / "candidates", target=tiny_target, settings=TINY, n=8, store=tmp_path / "s.sqlite")
    assert len(result.screen.sample_ids) == 4 and len(result.stages) == 3  # the screen, then both rounds on all three
    assert all(stage.cost.steps == 3 * steps_per_run(4, 1, 4) for stage in result.stages[1:])
    assert result.proxy_on_all.steps == 3 * steps_per_run(4, 1, 4)  # not round 2's n=8 (two steps a run)
    # a budget of both rounds' actual steps lets both run (planned on n=8 the second would be refused)
    budgeted = select_adaptive(task_root, task_root / "candidates", target=tiny_target, settings=TINY | {"budget_steps": 6}, n=8,
                               store=tmp_path / "s.sqlite")
    assert len(budgeted.stages) == 3 and "budget" not in budgeted.stopped


def test_the_budget_is_honoured(task_root, tmp_path, tiny_target, one_thread):
    budget = 3 * steps_per_run(4, 1, 4)  # round 1 on the three strategies, and not a step more
    result = select_adaptive(task_root, task_root / "candidates", target=tiny_target, settings=TINY | {"budget_steps": budget},
                             n=8, store=tmp_path / "s.sqlite")
    assert result.cost.steps <= budget and len(result.stages) == 2
    assert result.stopped.startswith(f"the budget of {budget} steps: round 2 needs") or result.stopped.startswith("one strategy left")
    none = select_adaptive(task_root, task_root / "candidates", target=tiny_target, settings=TINY | {"budget_steps": 1},
                           n=8, store=tmp_path / "s.sqlite")
    assert len(none.stages) == 1 and none.cost.steps == 0 and "no proxy round ran, so the screen decides" in none.stopped


def test_a_twin_strategy_is_fine_tuned_once_and_costed_once_but_metered_as_registered(task_root, tmp_path, tiny_target, one_thread):
    import shutil

    # "copy" has the same training examples as "short", byte for byte: its run is short's run, copied
    shutil.copy(task_root / "candidates" / "short.jsonl", task_root / "candidates" / "copy.jsonl")
    result = select_adaptive(task_root, task_root / "candidates", target=tiny_target, settings=TINY, n=8, store=tmp_path / "s.sqlite")
    first = result.stages[1]
    assert sorted(first.table[i]["strategy"] for i in range(4)) == ["copy", "short", "steps", "wordy"]
    assert first.computed == 3 and first.cost.steps == 3 * steps_per_run(4, 1, 4)  # three fine-tunes ran, not four
    # the step budget meters one fine-tune per strategy, as registered: round 1 on four strategies needs 4 runs' steps
    short_of_it = select_adaptive(task_root, task_root / "candidates", target=tiny_target,
                                  settings=TINY | {"budget_steps": 3 * steps_per_run(4, 1, 4)}, n=8, store=tmp_path / "s.sqlite")
    assert len(short_of_it.stages) == 1 and "round 1 needs" in short_of_it.stopped


def test_a_killed_selection_resumes_without_repeating_a_fine_tune(task_root, tmp_path, tiny_target, one_thread):
    store = tmp_path / "s.sqlite"

    def killed_after_the_first_run(stage: str, total: int, advance: int) -> None:
        if stage == "round 1: runs" and advance == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        select_adaptive(task_root, task_root / "candidates", target=tiny_target, settings=TINY, n=8, store=store,
                        progress=killed_after_the_first_run)
    bars: dict[str, list[int]] = {}

    def progress(stage: str, total: int, advance: int, tokens: int | None = None) -> None:
        bars.setdefault(stage, [total, 0])[1] += advance

    resumed = select_adaptive(task_root, task_root / "candidates", target=tiny_target, settings=TINY, n=8, store=store,
                              progress=progress)
    assert resumed.stages[1].computed == 2  # the first round's other two fine-tunes only
    # a bar per round, each counting to its own total (one shared bar counted past it)
    rounds = [name for name in bars if name.endswith(": runs")]
    assert rounds == [f"round {k}: runs" for k in range(1, len(resumed.stages))] and all(d == t for t, d in bars.values())


def test_the_rounds_run_on_a_real_local_ray_instance(task_root, tmp_path, tiny_target, one_thread):
    import json
    import os
    import sqlite3

    import ray

    settings = TINY | {"rounds": TINY["rounds"][:1]}
    store = tmp_path / "s.sqlite"
    on_ray = select_adaptive(task_root, task_root / "candidates", target=tiny_target, settings=settings, n=8, store=store,
                             ray_address="local", resources={"num_cpus": 1})
    assert not ray.is_initialized() and on_ray.stages[1].computed == 3  # the instance it started is shut down again
    with sqlite3.connect(store) as db:
        pids = [json.loads(v)["pid"] for (v,) in db.execute("SELECT value FROM results WHERE kind = 'verify-run'")]
    assert len(pids) == 3 and os.getpid() not in pids  # each fine-tune ran in a Ray worker process
    here = select_adaptive(task_root, task_root / "candidates", target=tiny_target, settings=settings, n=8, store=store)
    assert here.stages[1].computed == 0 and here.preference == on_ray.preference  # stored: nothing runs again


def test_bad_settings_name_the_field(task_root, tmp_path, tiny_target):
    from stylefit.core.errors import StylefitError

    with pytest.raises(StylefitError, match="adaptive selector: .*keep_top"):
        select_adaptive(task_root, task_root / "candidates", target=tiny_target, settings={"keep_top": 0}, store=tmp_path / "s.sqlite")
    with pytest.raises(StylefitError, match="a round trains on 50 questions, more than the screen's sample of 8"):
        select_adaptive(task_root, task_root / "candidates", target=tiny_target, settings={"screen": "ppl"}, n=8,
                        store=tmp_path / "s.sqlite")


def test_the_live_track_judges_the_adaptive_selector_and_commits_its_fine_tunes(tmp_path, tiny_target, one_thread, monkeypatch):
    import json

    from stylefit.bench.live.track import run_live
    from test_live import write_config

    selectors = '''
[[selectors]]
name = "adaptive"
scorer = "adaptive"
params = {screen = "ppl", own_answers_m = 4, rounds = [{n = 2, epochs = 1, validation = 2}, {n = 4, epochs = 1, validation = 3}], recipe = {batch_size = 4}}
'''
    path = write_config(tmp_path, tiny_target, selectors=selectors)
    run_live(path, store=tmp_path / "cache.sqlite", stages=("candidates", "selectors"))
    scores = json.loads((tmp_path / "results" / "tiny" / "scores" / "adaptive.json").read_text())
    adaptive = scores["adaptive"]
    assert adaptive["stages"][0]["name"] == "screen (ppl)" and len(adaptive["stages"]) >= 2
    assert sorted(scores["means"]) == ["answer_only", "gold"] and scores["means"] == adaptive["preference"]
    assert scores["means"][adaptive["order"][0]] == max(scores["means"].values())
    case = tmp_path / "results" / "tiny"
    committed = list((case / "adaptive_runs").glob("*.json"))
    assert len(committed) == sum(stage["computed"] for stage in adaptive["stages"]) > 0  # a fresh machine resumes from them
    # the result itself is committed where benchmarks/adaptive_live.py reads it (its budget 0), under settings of its own
    [folder] = [d for d in case.iterdir() if d.name.startswith("adaptive-")]
    assert json.loads((folder / "budget-0.json").read_text()) == adaptive
    assert scores["seconds"] == round(adaptive["cost"]["seconds"], 1) and scores["device"] == "cpu"
    # and read back from there: the scores file made again, on a fresh cache, runs nothing and says the same
    (case / "scores" / "adaptive.json").unlink()
    monkeypatch.setattr("stylefit.selection.adaptive.select_adaptive", lambda *a, **k: pytest.fail("ran the selector again"))
    run_live(path, store=tmp_path / "other.sqlite", stages=("selectors",))
    assert json.loads((case / "scores" / "adaptive.json").read_text())["means"] == scores["means"]
    assert sorted(case.joinpath("adaptive_runs").glob("*.json")) == sorted(committed)


def test_select_runs_the_adaptive_selector_from_the_command_line(task_root, tmp_path, tiny_target, one_thread):
    import json

    from typer.testing import CliRunner

    from stylefit.cli import app

    rounds = json.dumps(TINY["rounds"][:1])
    args = ["select", str(task_root), str(task_root / "candidates"), "-m", tiny_target, "--n", "8", "--scorer", "adaptive",
            "-p", "screen=ppl", "-p", "own_answers_m=4", "-p", f"rounds={rounds}", "-p", 'recipe={"batch_size": 4}',
            "--cache", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "adaptive.json"), "--report", str(tmp_path / "report")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "screen (ppl)" in result.output and "proxy round 1 (n=4" in result.output and "fine-tune steps" in result.output
    saved = json.loads((tmp_path / "adaptive.json").read_text())
    assert [s["name"].split(" (")[0] for s in saved["stages"]] == ["screen", "proxy round 1"] and saved["screen"]["scorer"] == "ppl"
    html = (tmp_path / "report" / "report.html").read_text()  # the stages, then the screen in full
    assert "<h2>screen (ppl)</h2>" in html and "<h2>proxy round 1 (n=4" in html and "goes on" in html
    assert html.index("<h2>Decision</h2>") < html.index("<h2>The screen in full</h2>")
    assert "## proxy round 1 (n=4" in (tmp_path / "report" / "report.md").read_text()
    assert json.loads((tmp_path / "report" / "result.json").read_text()) == saved
    bad = CliRunner().invoke(app, ["select", str(task_root), str(task_root / "candidates"), "-m", tiny_target, "--workers", "2"])
    assert "--workers and --ray run the adaptive selector's fine-tunes; scorer 'ppl' runs none" in str(bad.exception)


def test_the_live_judging_script_commits_each_result_and_judges_what_is_committed(tmp_path, tiny_target, one_thread, monkeypatch):
    import importlib.util
    import json
    import sys

    from stylefit.bench.live.track import run_live
    from test_live import write_config

    spec = importlib.util.spec_from_file_location("adaptive_live", REPO / "benchmarks" / "adaptive_live.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    path = write_config(tmp_path, tiny_target)
    run_live(path, store=tmp_path / "cache.sqlite", stages=("candidates", "truth", "selectors"))
    settings = {"screen": "ppl", "own_answers_m": 4, "rounds": [{"n": 2, "epochs": 1, "validation": 2}], "n_bootstrap": 500}
    argv = ["adaptive_live.py", "--config", str(path), "--settings", json.dumps(settings), "--budget-steps", "1",
            "--cache", str(tmp_path / "adaptive.sqlite"), "--out", str(tmp_path / "out" / "adaptive")]
    monkeypatch.setattr(sys, "argv", argv + ["--run-only"])
    script.main()
    case = tmp_path / "results" / "tiny"
    [folder] = [d for d in case.iterdir() if d.name.startswith("adaptive-")]  # not the pre-registered settings: kept apart
    committed = {f.name: f.read_text() for f in folder.glob("*.json")}
    assert sorted(committed) == ["budget-0.json", "budget-1.json"] and not (tmp_path / "out").exists()
    unlimited, budgeted = (json.loads(committed[f"budget-{b}.json"]) for b in (0, 1))
    assert unlimited["cost"]["steps"] > 0 and unlimited["device"] == "cpu"
    assert budgeted["cost"]["steps"] == 0 and "the budget of 1 steps" in budgeted["stopped"]  # the screen decides
    runs = sorted(f.name for f in (case / "adaptive_runs").glob("*.json"))

    # The tiny target answers nothing, so the judge is given known accuracies (judging is tested in test_live).
    truth = SimpleNamespace(strategies=[SimpleNamespace(strategy="gold", mean=0.5), SimpleNamespace(strategy="answer_only", mean=0.25)])
    monkeypatch.setattr(script, "case_truth", lambda config, case: (truth,))
    monkeypatch.setattr(sys, "argv", argv)  # judging reads the committed results: nothing runs again
    script.main()
    assert {f.name: f.read_text() for f in folder.glob("*.json")} == committed
    assert sorted(f.name for f in (case / "adaptive_runs").glob("*.json")) == runs
    judged = json.loads((tmp_path / "out" / "adaptive.json").read_text())
    [row] = judged["cases"]
    assert [p["budget_steps"] for p in judged["curve"] if p["selector"] == "adaptive"] == [0, 1]
    assert (tmp_path / "out" / "adaptive.png").stat().st_size > 0
    assert [r["budget_steps"] for r in row["runs"]] == [0, 1] and row["proxy_paper_steps"] > 0 and row["best"] == "gold"
    for run, result in zip(row["runs"], (unlimited, budgeted)):
        regret = 0.0 if result["best"] == "gold" else (25.0 if result["best"] == "answer_only" else 12.5)  # a tie: the mean
        assert run["outcome"]["regret_points"] == pytest.approx(regret)
    assert "NOT the pre-registered settings" in (tmp_path / "out" / "adaptive.md").read_text()
    # seconds compare with proxy-paper's only on one kind of device (both ran on this CPU)
    assert row["proxy_paper_device"] == "cpu" and row["proxy_paper_seconds"] > 0
    [point] = [p for p in judged["curve"] if p["selector"] == "adaptive" and p["budget_steps"] == 0]
    assert point["seconds_share_of_proxy_paper"] == [pytest.approx(row["runs"][0]["seconds"] / row["proxy_paper_seconds"])]
    for mine, theirs in (("cuda", "cpu"), ("cpu and cuda", "cpu and cuda")):  # a GPU's seconds and a CPU's do not compare
        assert script.seconds_share({"device": mine, "seconds": 1.0}, {"proxy_paper_device": theirs, "proxy_paper_seconds": 2.0}) is None
    # --judge-only runs nothing: a budget never run leaves the case unjudged, with the reason
    monkeypatch.setattr(sys, "argv", argv + ["--budget-steps", "2", "--judge-only"])
    script.main()
    assert sorted(f.name for f in folder.glob("*.json")) == ["budget-0.json", "budget-1.json"]
    assert json.loads((tmp_path / "out" / "adaptive.json").read_text())["not_judged"] == [
        "tiny: the selector has not run on it: no committed result for budget 2 on the case's current candidates"]
    assert unlimited["inputs"]["strategies"] == ["gold", "answer_only"] and unlimited["inputs"]["candidates"]
    # a result for other candidates is stale, never judged as theirs (a strategy's responses written again)
    written = (case / "candidates" / "answer_only.jsonl").read_text()
    (case / "candidates" / "answer_only.jsonl").write_text(written.replace("Final Answer:", "Final answer:", 1))
    monkeypatch.setattr(sys, "argv", argv + ["--judge-only"])
    script.main()
    assert json.loads((tmp_path / "out" / "adaptive.json").read_text())["not_judged"] == [
        "tiny: the selector has not run on it: no committed result for budget none on the case's current candidates"]
    (case / "candidates" / "answer_only.jsonl").write_text(written)

    settings["seed"] = 1  # other settings under the same folder are refused, not judged as these
    (folder / "budget-0.json").write_text(committed["budget-0.json"].replace('"seed": 0', '"seed": 1'))
    with pytest.raises(SystemExit, match="budget-0.json: made with other settings"):
        script.main()
