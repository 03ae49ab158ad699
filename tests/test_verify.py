"""The ground-truth grid end to end on a tiny model saved as a local folder: in-process, through the
real CLI killed mid-grid and resumed, and through a real local Ray instance; the statistics by hand."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import char_tokenizer, tiny_llama, write_task
from stylefit.core.errors import StylefitError
from stylefit.training import Evaluation, RunResult, summarize, verify
from stylefit.training.summary import Z95, binomial_se

TINY = {"recipe": {"epochs": 1, "batch_size": 4}, "eval_settings": {"max_new_tokens": 6}}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def target(tiny_target):
    return tiny_target


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = write_task(tmp_path_factory.mktemp("verify") / "task", n=8)
    tests = [{"id": f"t{i}", "question": f"What is {i} + 7?", "gold": str(i + 7)} for i in range(5)]
    (root / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tests))
    spec = json.loads((root / "task.json").read_text()) | {"test": "test.jsonl"}
    (root / "task.json").write_text(json.dumps(spec))
    return root


def test_verify_trains_every_strategy_and_seed_evaluates_and_never_repeats_a_run(task, target, tmp_path):
    store = tmp_path / "store.sqlite"
    result = verify(task, task / "candidates", targets=target, strategies=["short", "wordy"], seeds=[3, 4], store=store, **TINY)
    assert result.computed == 5  # the base model once + 2 strategies x 2 seeds
    case = result.cases[0]
    assert sorted(case.ranking) == ["short", "wordy"] and case.n_test == 5
    for s in case.strategies:
        assert s.seeds == [3, 4] and len(s.accuracies) == 2
        assert s.std == pytest.approx(abs(s.accuracies[0] - s.accuracies[1]) / 2**0.5)  # ddof=1 with two seeds
    assert case.base is not None and case.noise.binomial_se > 0
    trained = [r for r in result.runs if r.strategy]
    assert {(r.strategy, r.seed) for r in trained} == {("short", 3), ("short", 4), ("wordy", 3), ("wordy", 4)}
    for r in trained:
        assert r.training.examples == 8 and r.training.steps == 2 and r.training.loss_history
        assert r.recipe["lora_rank"] == 8 and r.recipe["learning_rate"] == 2e-4 and r.training.sft_config["seed"] == r.seed
        assert {"torch", "transformers", "trl", "peft"} <= set(r.versions)
        assert [i.id for i in r.evaluation.items] == [f"t{i}" for i in range(5)]
        assert all(i.n_tokens <= 6 for i in r.evaluation.items)
    # Two seeds train differently (LoRA initialisation, dropout, data order).
    losses = {(r.strategy, r.seed): r.training.loss_history for r in trained}
    assert losses[("short", 3)] != losses[("short", 4)] and losses[("wordy", 3)] != losses[("wordy", 4)]
    json.dumps(result.to_dict())  # every run, every item: plain JSON

    again = verify(task, task / "candidates", targets=target, strategies=["short", "wordy"], seeds=[3, 4], store=store, **TINY)
    assert again.computed == 0
    assert [r.finished_at for r in again.runs] == [r.finished_at for r in result.runs]
    # A new seed runs only what is new; a changed recipe is a different run.
    more = verify(task, task / "candidates", targets=target, strategies=["short"], seeds=[3, 5], store=store, **TINY)
    assert more.computed == 1
    changed = verify(task, task / "candidates", targets=target, strategies=["short"], seeds=[3], store=store, base=False,
                     recipe={"epochs": 1, "batch_size": 4, "learning_rate": 1e-3}, eval_settings=TINY["eval_settings"])
    assert changed.computed == 1


def test_checkpoint_selection_validates_on_held_out_training_questions(task, target, tmp_path):
    recipe = {"epochs": 2, "batch_size": 4, "select_checkpoint": True, "validation_questions": 3}
    result = verify(task, task / "candidates", targets=target, strategies=["short"], seeds=[0], n_train=5, base=False,
                    recipe=recipe, eval_settings=TINY["eval_settings"], store=tmp_path / "s.sqlite")
    training = result.runs[0].training
    assert training.examples == 5 and [c["epoch"] for c in training.checkpoints] == [1.0, 2.0]
    assert all(0 <= c["validation_accuracy"] <= 1 for c in training.checkpoints)
    assert training.selected_epoch in (1.0, 2.0) and training.validation_s > 0


@pytest.mark.parametrize("metric,accuracy", [("flexible", 1 / 3), ("strict", 0.0)])
def test_checkpoint_selection_maximises_the_ranking_metric(task, tmp_path, metric, accuracy):
    from conftest import TASK_QUESTIONS, parrot_llama

    # Answers "It is 6." everywhere: no 'Final Answer:' marker, so strictly always wrong; flexibly
    # right on q6 of the validation questions q5, q6, q7 (golds 7, 6, 8).
    folder = tmp_path / "parrot"
    model, tokenizer = parrot_llama("It is 6.", TASK_QUESTIONS)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    recipe = {"epochs": 1, "batch_size": 8, "learning_rate": 1e-9, "select_checkpoint": True, "validation_questions": 3}
    result = verify(task, task / "candidates", targets=str(folder), strategies=["short"], seeds=[0], n_train=5, base=False,
                    recipe=recipe, eval_settings={"max_new_tokens": 12}, metric=metric, store=tmp_path / "s.sqlite")
    run = result.runs[0]
    assert run.recipe["checkpoint_metric"] == metric
    assert [c["validation_accuracy"] for c in run.training.checkpoints] == [pytest.approx(accuracy)]


def test_the_dtype_is_part_of_a_run_and_auto_is_fp32_on_a_cpu(task, target, tmp_path):
    import torch

    store = tmp_path / "s.sqlite"
    common = dict(targets=target, strategies=["short"], seeds=[0], base=False, store=store, **TINY)
    auto = verify(task, task / "candidates", **common)
    expected = "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float32"
    assert auto.runs[0].dtype == expected and auto.computed == 1
    other = "bfloat16" if expected == "float32" else "float32"
    changed = verify(task, task / "candidates", dtype=other, **common)
    assert changed.computed == 1 and changed.runs[0].dtype == other and changed.runs[0].key != auto.runs[0].key
    assert verify(task, task / "candidates", dtype=expected, **common).computed == 0


def _stored(store) -> dict[str, str]:
    """key -> finished_at of the runs in the store (read while another process writes it)."""
    try:
        with sqlite3.connect(store) as db:
            return {k: json.loads(v)["finished_at"] for k, v in db.execute("SELECT key, value FROM results WHERE kind = 'verify-run'")}
    except sqlite3.OperationalError:  # not created yet
        return {}


def test_the_cli_killed_mid_grid_resumes_where_it_stopped(task, target, tmp_path):
    store, out = tmp_path / "store.sqlite", tmp_path / "result.json"
    args = [sys.executable, "-m", "stylefit", "verify", str(task), str(task / "candidates"), "--model", target,
            "--seeds", "0,1", "--epochs", "1", "--batch-size", "4", "--max-new-tokens", "6", "--cache", str(store)]
    env = os.environ | {"STYLEFIT_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1", "COLUMNS": "160"}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    while len(_stored(store)) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL  # killed, not finished
    before = _stored(store)
    assert 2 <= len(before) < 7, before  # 7 runs: base + 3 strategies x 2 seeds

    done = subprocess.run(args + ["--out", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{7 - len(before)} of 7 runs computed now" in done.stdout
    # The plan is said before anything runs, with an estimate from the stored runs' own times.
    plan = next(line for line in done.stderr.splitlines() if line.startswith("plan:"))
    assert re.fullmatch(rf"plan: 7 runs, {len(before)} stored, {7 - len(before)} to run; about \d+ min at the stored runs' "
                        r"mean of \d+\.\d min", plan), plan
    assert "strategies ranked by fine-tuned strict accuracy" in done.stdout and "Noise floor" in done.stdout
    after = _stored(store)
    assert len(after) == 7 and all(after[k] == v for k, v in before.items())  # nothing finished was redone
    result = json.loads(out.read_text())
    assert result["computed"] == 7 - len(before) and len(result["runs"]) == 7
    assert {e["strategy"] for e in result["cases"][0]["strategies"]} == {"short", "steps", "wordy"}


def test_a_grid_runs_through_a_real_local_ray_instance(task, target, tmp_path):
    import ray

    store = tmp_path / "store.sqlite"
    kwargs = dict(targets=target, strategies=["short", "steps"], seeds=[0], store=store, **TINY)
    result = verify(task, task / "candidates", ray_address="local", resources={"num_cpus": 1}, **kwargs)
    assert not ray.is_initialized()  # the instance it started is shut down again
    assert result.computed == 3
    assert all(r.pid != os.getpid() for r in result.runs)  # each run executed in a Ray worker process
    assert {r.strategy for r in result.runs} == {None, "short", "steps"}
    local = verify(task, task / "candidates", **kwargs)  # the results are in the store: nothing runs again
    assert local.computed == 0 and [r.key for r in local.runs] == [r.key for r in result.runs]


def test_a_grid_runs_in_worker_processes_here_with_the_results_of_one_process(task, target, tmp_path):
    kwargs = dict(targets=target, strategies=["short", "steps"], seeds=[0], **TINY)
    heard = []  # progress moves within each run, not only between runs
    result = verify(task, task / "candidates", workers=2, store=tmp_path / "workers.sqlite",
                    progress=lambda stage, total, advance: heard.append((stage, total, advance)), **kwargs)
    assert result.computed == 3
    within = {stage for stage, _, advance in heard if advance and stage != "runs"}
    assert {r.label for r in result.runs if r.strategy} <= {stage.split(": ")[0] for stage in within if "training steps" in stage}
    assert {f"{r.label}: test answers" for r in result.runs} <= within
    assert all(r.pid != os.getpid() for r in result.runs) and len({r.pid for r in result.runs}) >= 2
    again = verify(task, task / "candidates", workers=2, store=tmp_path / "workers.sqlite", **kwargs)
    assert again.computed == 0
    alone = verify(task, task / "candidates", store=tmp_path / "alone.sqlite", **kwargs)
    assert [r.key for r in alone.runs] == [r.key for r in result.runs]
    assert [[i.output for i in r.evaluation.items] for r in alone.runs] == [[i.output for i in r.evaluation.items] for r in result.runs]


def test_over_long_training_examples_are_refused_before_any_run(task, target, tmp_path):
    store = tmp_path / "store.sqlite"
    kwargs = dict(targets=target, seeds=[0], store=store, eval_settings={"max_new_tokens": 6})
    recipe = {"epochs": 1, "batch_size": 4, "max_length": 100}  # 'short' examples fit (63 tokens), 'wordy' ones do not (127)
    with pytest.raises(StylefitError) as e:
        verify(task, task / "candidates", strategies=["short", "wordy"], recipe=recipe, **kwargs)
    assert re.fullmatch(rf"{re.escape(target)}: strategy 'wordy': training example q\d \(\d+ tokens\) is longer than max_length 100 "
                        r"\(8 over-long, the longest \d+ tokens\); nothing is truncated: .* before any run", str(e.value))
    assert verify(task, task / "candidates", strategies=["short"], recipe=recipe, **kwargs).computed == 2  # nothing ran before


def test_a_failing_run_in_a_worker_is_one_line_and_the_runs_beside_it_are_kept(task, target, tmp_path):
    # The grid itself, past verify's length check: the trainer's own refusal is the failure.
    from stylefit.core.store import Store
    from stylefit.data.candidates import load_candidates
    from stylefit.data.task import load_task
    from stylefit.training.grid import run_grid
    from stylefit.training.plan import plan_runs
    from stylefit.training.recipe import EvalSettings, Recipe

    loaded = load_task(task)
    candidates = load_candidates(loaded, task / "candidates")
    common = dict(seeds=[0], recipe=Recipe(epochs=1, batch_size=4, max_length=100), eval_settings=EvalSettings(max_new_tokens=6))
    store = Store(tmp_path / "store.sqlite")
    with pytest.raises(StylefitError) as e:
        run_grid(plan_runs(loaded, candidates, target, strategies=["short", "wordy"], **common), store, workers=2)
    assert "is longer than max_length 100" in str(e.value) and "\n" not in str(e.value)
    again = run_grid(plan_runs(loaded, candidates, target, strategies=["short"], **common), store)
    assert again.computed == 0  # the base and 'short' runs that ran beside the failure were stored


@pytest.mark.parametrize("kwargs,message", [
    ({"strategies": ["shorter"]}, "unknown strategy 'shorter' (known: short, steps, wordy)"),
    ({"seeds": []}, "seeds must be distinct and at least one"),
    ({"recipe": {"epochs": 0}}, "recipe: epochs: Input should be greater than 0"),
    ({"recipe": {"method": "qlora"}}, "recipe: method: Input should be 'lora' or 'full'"),
    ({"n_test": 50}, "n_test=50, but task 'tiny-sums' has 5 test questions"),
    ({"recipe": {"select_checkpoint": True}}, "checkpoint selection needs 50 validation questions, but task 'tiny-sums' has only 0"),
    ({"metric": "lenient"}, "unknown metric 'lenient'"),
    ({"workers": 0}, "workers must be at least 1, got 0"),
    ({"workers": 2, "ray_address": "local"}, "workers and a Ray address are two ways to run in parallel"),
])
def test_bad_requests_are_one_line_errors(task, target, tmp_path, kwargs, message):
    with pytest.raises(StylefitError) as e:
        verify(task, task / "candidates", targets=target, store=tmp_path / "s.sqlite", **kwargs)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_a_task_without_a_test_split_is_refused(tmp_path, target):
    root = write_task(tmp_path / "notest", n=4)
    with pytest.raises(StylefitError, match="task 'tiny-sums' .* has no test split"):
        verify(root, root / "candidates", targets=target, store=tmp_path / "s.sqlite")


def fake_run(strategy, seed, accuracy, n=100):
    evaluation = Evaluation(n=n, accuracy_strict=accuracy, accuracy_flexible=min(1.0, accuracy + 0.05), hit_length_limit=0,
                            generated_tokens=0, generation_s=0, verification_s=0, items=[])
    return RunResult(key=f"{strategy}-{seed}", label="", task="t", target="m", revision="r", strategy=strategy, seed=seed,
                     recipe=None, training=None, evaluation=evaluation, device="cpu", dtype="float32", host="h", pid=1, versions={},
                     timings={}, finished_at="")


@pytest.mark.parametrize("correct,n", [(80, 100), (53, 100), (3, 20), (290, 300), (1, 7)])
def test_binomial_se_is_the_agresti_coull_interval_of_statsmodels(correct, n):
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(correct, n, alpha=0.05, method="agresti_coull")
    assert Z95 * binomial_se(correct / n, n) == pytest.approx((high - low) / 2, rel=1e-9)


def test_tied_strategies_share_a_rank():
    runs = [fake_run("A", 0, 0.6), fake_run("B", 0, 0.7), fake_run("C", 0, 0.6)]
    assert [(s.strategy, s.rank) for s in summarize(runs).strategies] == [("B", 1), ("A", 2), ("C", 2)]
    # A tie for first is no pick, never the alphabetically first: best is None, tied_best names both.
    tied = summarize([fake_run("B", 0, 0.6), fake_run("A", 0, 0.6), fake_run("C", 0, 0.5)])
    assert (tied.best, tied.tied_best) == (None, ["A", "B"])


def test_the_statistics_by_hand():
    runs = [fake_run(None, None, 0.30)]
    runs += [fake_run("A", s, a) for s, a in enumerate([0.80, 0.70, 0.90])]
    runs += [fake_run("B", s, a) for s, a in enumerate([0.50, 0.50, 0.60])]
    runs += [fake_run("C", s, a) for s, a in enumerate([0.78, 0.75, 0.84])]
    case = summarize(runs, "strict")
    assert case.ranking == ["A", "C", "B"] and case.best == "A"
    a, c, b = case.strategies
    assert (a.mean, a.std) == (pytest.approx(0.80), pytest.approx(0.10))
    assert (b.mean, b.std) == (pytest.approx(0.53333, abs=1e-5), pytest.approx(0.057735, abs=1e-6))
    assert (c.mean, c.std) == (pytest.approx(0.79), pytest.approx(0.045826, abs=1e-6))
    # Binomial SE at 80% of 100 items, Agresti-Coull (n~ = 100 + 1.96², p~ = (80 + 1.96²/2) / n~): 0.040047
    assert a.binomial_se == pytest.approx(0.040047, abs=1e-6)
    assert a.se == pytest.approx(0.070264, abs=1e-6)  # sqrt(0.1^2 / 3 + 0.040047^2)
    assert (a.ci_low, a.ci_high) == (pytest.approx(0.8 - 1.959964 * 0.070264, abs=1e-5), pytest.approx(0.8 + 1.959964 * 0.070264, abs=1e-5))
    # A vs C: 1 point apart, far inside the noise; C vs B: 25.7 points, half-width 0.15010.
    assert not case.comparisons[0].separated and c.within_noise_of_best and not b.within_noise_of_best
    assert case.comparisons[1].separated
    assert case.comparisons[1].ci_low == pytest.approx(0.25667 - 0.15010, abs=1e-4)
    assert case.noise.seed_std == pytest.approx(0.071725, abs=1e-6)  # sqrt(mean(0.01, 0.003333, 0.0021))
    assert case.base.accuracy == 0.30 and case.base.strict == 0.30 and case.base.flexible == pytest.approx(0.35)
    assert any("within noise of it (95% interval of the difference includes 0): C" in note for note in case.notes)
    assert summarize(runs, "flexible").strategies[0].mean == pytest.approx(0.85)

    single = summarize([fake_run("A", 0, 0.8), fake_run("B", 0, 0.75)])
    assert single.strategies[0].std is None and single.noise.seed_std is None
    assert any("one seed only for A, B" in note for note in single.notes)
    assert any("a ranking of them is mostly noise" in note for note in single.notes)


@pytest.fixture(scope="module")
def stopper(tmp_path_factory) -> str:
    """A tiny Llama that answers every prompt with end-of-sequence at once: its layers add nothing, every
    embedding points one way, and the head maps that way to </s> alone."""
    import torch

    model = tiny_llama(seed=0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                p.zero_()
        model.model.embed_tokens.weight[:, 0] = 1.0
        model.model.norm.weight.fill_(1.0)
        model.lm_head.weight.zero_()
        model.lm_head.weight[model.config.eos_token_id, 0] = 10.0
    folder = tmp_path_factory.mktemp("stopper")
    model.save_pretrained(folder)
    char_tokenizer().save_pretrained(folder)
    return str(folder)


def test_a_larger_budget_takes_over_runs_that_no_answer_reached_and_reruns_the_cut(task, target, stopper, tmp_path):
    common = dict(strategies=["short"], seeds=[0], recipe=TINY["recipe"])
    short, longer = {"max_new_tokens": 4}, {"max_new_tokens": 9}
    # The stopper's answers end at once: nothing reaches 4 tokens, and 9 generates the same.
    store = tmp_path / "s.sqlite"
    first = verify(task, task / "candidates", targets=stopper, store=store, eval_settings=short, **common)
    assert first.computed == 2 and all(r.evaluation.hit_length_limit == 0 for r in first.runs)
    taken = verify(task, task / "candidates", targets=stopper, store=store, eval_settings=longer, earlier_budgets=[4], **common)
    assert taken.computed == 0 and all(r.reused is not None and r.reused.max_new_tokens == 4 for r in taken.runs)
    assert [r.reused.key for r in taken.runs] == [r.key for r in first.runs]
    assert {r.key for r in taken.runs}.isdisjoint(r.key for r in first.runs) and any("taken over" in n for n in taken.notes)
    fresh = verify(task, task / "candidates", targets=stopper, store=tmp_path / "fresh.sqlite", eval_settings=longer, **common)
    assert fresh.computed == 2 and [r.key for r in fresh.runs] == [r.key for r in taken.runs]
    assert [[i.output for i in r.evaluation.items] for r in fresh.runs] == [[i.output for i in r.evaluation.items] for r in taken.runs]
    # With answers the smaller budget cut, the run is made again.
    cut_store = tmp_path / "cut.sqlite"
    cut = verify(task, task / "candidates", targets=target, store=cut_store, eval_settings=short, **common)
    assert all(r.evaluation.hit_length_limit > 0 for r in cut.runs)
    again = verify(task, task / "candidates", targets=target, store=cut_store, eval_settings=longer, earlier_budgets=[4], **common)
    assert again.computed == 2 and all(r.reused is None for r in again.runs)
    # A run that picks its checkpoint on validation answers is never taken over: their cuts are not recorded.
    picked = dict(common, n_train=6, recipe=TINY["recipe"] | {"select_checkpoint": True, "validation_questions": 2})
    verify(task, task / "candidates", targets=stopper, store=store, eval_settings=short, base=False, **picked)
    assert verify(task, task / "candidates", targets=stopper, store=store, eval_settings=longer, base=False,
                  earlier_budgets=[4], **picked).computed == 1


def test_a_larger_max_length_takes_over_runs_that_skipped_no_example(task, target, tmp_path):
    common = dict(targets=target, strategies=["short"], seeds=[0], eval_settings=TINY["eval_settings"])
    store = tmp_path / "s.sqlite"
    first = verify(task, task / "candidates", store=store, recipe=TINY["recipe"] | {"max_length": 100}, **common)
    larger = TINY["recipe"] | {"max_length": 200}
    taken = verify(task, task / "candidates", store=store, recipe=larger, earlier_max_lengths=[100], **common)
    assert first.computed == 2 and taken.computed == 0  # the base run has no recipe: its key is the same
    run = next(r for r in taken.runs if r.strategy)
    assert run.reused is not None and run.reused.max_length == 100 and run.recipe["max_length"] == 100
    assert run.reused.key == next(r.key for r in first.runs if r.strategy) != run.key
    # the limit is only checked: made afresh under the larger one, the run trains and answers the same
    fresh = verify(task, task / "candidates", store=tmp_path / "fresh.sqlite", recipe=larger, **common)
    made = next(r for r in fresh.runs if r.strategy)
    assert fresh.computed == 2 and made.key == run.key and made.training.loss_history == run.training.loss_history
    assert [i.output for i in made.evaluation.items] == [i.output for i in run.evaluation.items]
    # a run that skipped over-long examples under the smaller limit trained on fewer: made again
    rows = [json.loads(line) for line in (task / "candidates" / "short.jsonl").read_text().splitlines()]
    rows[0]["response"] = "Let us add. " * 8 + rows[0]["response"]
    (tmp_path / "mixed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    skipping = {"strategies": ["mixed"], "base": False}
    files = [tmp_path / "mixed.jsonl", task / "candidates" / "short.jsonl"]
    cut = verify(task, files, store=store, recipe=TINY["recipe"] | {"max_length": 100, "skip_overlong": True},
                 **common | skipping)
    assert cut.computed == 1 and cut.runs[0].training.skipped == ["q0 (157 tokens)"]
    again = verify(task, files, store=store, recipe=larger | {"skip_overlong": True}, earlier_max_lengths=[100],
                   **common | skipping)
    assert again.computed == 1 and again.runs[0].reused is None and again.runs[0].training.skipped == []


def test_strategies_with_the_same_training_examples_share_one_run(task, target, tmp_path):
    import shutil

    candidates = tmp_path / "candidates"
    shutil.copytree(task / "candidates", candidates)
    shutil.copy(candidates / "short.jsonl", candidates / "twin.jsonl")  # one set of responses under two names
    common = dict(targets=target, seeds=[0], **TINY)
    plans = []
    both = verify(task, candidates, strategies=["short", "twin", "wordy"], store=tmp_path / "s.sqlite", on_plan=plans.append, **common)
    runs = {r.strategy: r for r in both.runs}
    assert both.computed == 3 and runs["wordy"].reused is None and runs["short"].reused is None  # the base model, short, wordy
    assert (plans[0].runs, plans[0].to_run, plans[0].twins) == (4, 3, 1) and "1 taken from another strategy's run" in plans[0].line()
    assert runs["twin"].key != runs["short"].key and runs["twin"].label.endswith(":twin:seed0")
    assert runs["twin"].reused.key == runs["short"].key and runs["twin"].reused.strategy == "short"
    assert any("another strategy with the same training examples" in n for n in both.notes)
    # The copy is the run training on the twin makes: alone, in a fresh store, it trains to the same bits.
    alone = verify(task, candidates, strategies=["twin"], store=tmp_path / "fresh.sqlite", **common | {"base": False}).runs[0]
    assert alone.reused is None and alone.key == runs["twin"].key
    assert alone.training.loss_history == runs["twin"].training.loss_history
    assert [i.output for i in alone.evaluation.items] == [i.output for i in runs["twin"].evaluation.items]
    # A stored run leads: asked for later, the twin trains nothing; a different set trains its own.
    later = verify(task, candidates, strategies=["short", "twin", "steps"], store=tmp_path / "s.sqlite", on_plan=plans.append, **common)
    assert later.computed == 1 and {r.strategy: r.reused is not None for r in later.runs} == {"short": False, "twin": True, "steps": False, None: False}
    # Only a fine-tune is left, so its estimate is the stored fine-tunes' mean, not the quicker base run's
    assert plans[1].mean_stored_s == pytest.approx(runs["short"].timings["total_s"])


def test_a_run_bound_to_its_device_takes_over_the_unbound_run_of_that_kind_only(task, target, tmp_path):
    from stylefit.core.store import Store
    from stylefit.training.grid import RUN_KIND

    common = dict(targets=target, strategies=["short"], seeds=[0], base=False, **TINY)
    store = tmp_path / "s.sqlite"
    unbound = verify(task, task / "candidates", store=store, **common)
    bound = verify(task, task / "candidates", store=store, bind_device=True, **common)
    assert bound.computed == 0 and bound.runs[0].key != unbound.runs[0].key
    assert bound.runs[0].reused.key == unbound.runs[0].key and bound.runs[0].evaluation == unbound.runs[0].evaluation
    # A store shared with a GPU machine: its unbound run is not this CPU's bound run.
    shared = Store(tmp_path / "shared.sqlite")
    made = unbound.runs[0].model_dump(mode="json") | {"device": "cuda:0"}
    shared.put_many(RUN_KIND, {made["key"]: made})
    shared.close()
    again = verify(task, task / "candidates", store=tmp_path / "shared.sqlite", bind_device=True, **common)
    assert again.computed == 1 and again.runs[0].reused is None and again.runs[0].device == "cpu"
    assert not any("FLAGGED: the runs were made on" in n for n in again.notes)
    mixed = verify(task, task / "candidates", store=tmp_path / "shared.sqlite", **common | {"base": True})
    assert any("FLAGGED: the runs were made on cpu and cuda" in n for n in mixed.notes)
