"""The 2025-26 predictors against straightforward computations: GRACE's gradients and statistic."""

import json

import numpy as np
import pytest
import torch

from stylefit.core.errors import StylefitError
from stylefit.models.base import ContinuationRequest
from stylefit.scoring import get_scorer
from stylefit.scoring.grace import _Projector, held_out_values


def test_grace_lora_b_gradients_equal_peft_backward(tiny_lm):
    """The analytic dL/dB (B = 0, no model change) is what PEFT's autograd gives, projected alike."""
    from peft import LoraConfig, get_peft_model

    from conftest import tiny_llama

    scorer = get_scorer("grace", dim=16, lora_rank=4, lora_alpha=8)
    projector = _Projector(tiny_lm, scorer)
    requests = [ContinuationRequest(tiny_lm.render_chat("What is 2 + 3?"), "2 + 3 = 5\nFinal Answer: 5"),
                ContinuationRequest(tiny_lm.render_chat("Name a colour."), "Blue.")]
    fast = projector.project(requests)

    peft_model = get_peft_model(tiny_llama(seed=0), LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"]))
    loras = [m for name, m in peft_model.named_modules() if name.split(".")[-1] in ("q_proj", "v_proj") and hasattr(m, "lora_A")]
    with torch.no_grad():
        for module, a in zip(loras, projector.a):
            module.lora_A["default"].weight.copy_(a)
    for row, request in enumerate(requests):
        context, continuation = tiny_lm.token_ids(request)
        ids = torch.tensor([context + continuation])
        labels = torch.tensor([[-100] * len(context) + continuation])
        peft_model.zero_grad()
        peft_model(input_ids=ids, labels=labels).loss.backward()
        grads = [m.lora_B["default"].weight.grad.flatten() for m in loras]
        expected = sum(g @ p for g, p in zip(grads, projector.projection))
        assert np.abs(expected.numpy()).max() > 0
        np.testing.assert_allclose(fast[row], expected.numpy(), rtol=1e-4, atol=1e-6)


def test_grace_needs_the_weights_and_says_so_for_a_served_target(tiny_lm, tiny_task, store):
    """The gradient scorer uses only the local-weights sub-protocol, which a local model has and a served one lacks."""
    from stylefit.data import load_candidates, load_task
    from stylefit.models.base import LocalWeights
    from stylefit.models.openai_lm import OpenAICompatibleLM

    served = OpenAICompatibleLM("http://127.0.0.1:9/v1", "m", mode="completions", tokenizer="smollm2-135m-instruct")
    assert isinstance(tiny_lm, LocalWeights) and not isinstance(served, LocalWeights)
    task = load_task(tiny_task)
    with pytest.raises(StylefitError, match="scorer 'grace' needs a local transformers target; 'm@http://127.0.0.1:9/v1' is served"):
        get_scorer("grace").prepare(served, load_candidates(task, tiny_task / "candidates"), ["q0", "q1", "q2"], store)


def test_grace_statistic_is_the_trace_over_each_held_out_fold():
    rng = np.random.default_rng(1)
    g = rng.normal(size=(12, 5)) * rng.uniform(0.5, 2.0, size=(12, 1))
    values = held_out_values(g, splits=3, smooth=1e-3, seed=7)
    folds = np.array_split(np.random.default_rng(7).permutation(12), 3)
    for fold in folds:
        train = np.setdiff1d(np.arange(12), fold)
        unit = g[train] / np.linalg.norm(g[train], axis=1, keepdims=True)
        w, v = np.linalg.eigh(unit.T @ unit / len(train))
        w = (1 - 1e-3) * w + 1e-3 * w.mean()
        kernel_test = g[fold].T @ g[fold] / len(fold)
        trace = np.trace(v @ np.diag(1 / w) @ v.T @ kernel_test)
        assert values[fold].mean() == pytest.approx(trace, rel=1e-9)
    # gradients that all point one way explain each other: a low score; scattered ones do not
    aligned = np.outer(rng.uniform(1, 2, size=12), np.ones(5)) + rng.normal(scale=0.01, size=(12, 5))
    assert held_out_values(aligned, 3, 1e-3, 0).mean() < values.mean()


def test_proxy_trains_on_the_sample_and_judges_held_out_training_questions(tmp_path, tiny_target, one_thread):
    from conftest import write_task
    from stylefit.api import select

    root = write_task(tmp_path / "task", n=8)
    store = tmp_path / "store.sqlite"
    params = {"validation": 4, "recipe": {"epochs": 1, "batch_size": 4}, "max_new_tokens": 6}
    run = lambda **extra: select(root, root / "candidates", target=tiny_target, scorer="proxy", n=4, store=store,
                                 scorer_params=params | extra)
    result = run()
    strategies = list(result.per_example)
    assert result.sample_ids == [f"q{i}" for i in range(4, 8)]  # the training questions outside the sample
    assert result.computed == len(strategies)  # one fine-tune per strategy
    for values in result.per_example.values():
        assert set(values["value"]) <= {0.0, 1.0} and len(values["value"]) == 4
    again = run()
    assert again.computed == 0 and again.per_example == result.per_example
    # its cost is its fine-tunes' own, read from the store or not: this call's clock would make a rerun look free
    assert again.timings["runs_s"] == result.timings["runs_s"] > again.timings["score_s"]
    from rich.console import Console

    from stylefit.report.terminal import print_selection

    console = Console(record=True, width=200)
    print_selection(again, console)
    assert "0 fine-tunes computed, the rest from cache" in console.export_text()  # its unit is runs, not scores
    # the cheaper measure reads the same runs; only the untrained model's pass is new, and its cost adds to theirs
    loss = run(measure="gold_loss")
    assert loss.computed == 1 and loss.unit == "drop in gold-answer NLL"
    assert loss.timings["runs_s"] > result.timings["runs_s"]
    assert all(v != 0.0 for values in loss.per_example.values() for v in values["value"])
    with pytest.raises(StylefitError, match="training questions outside the 4 sampled"):
        run(validation=5)


def test_a_proxys_cost_counts_a_copied_run_once():
    from types import SimpleNamespace as Run

    from stylefit.training.runs import runs_cost_s

    copied = lambda key: Run(key=key)
    own = Run(key="a", reused=None, timings={"total_s": 10.0})
    twin = Run(key="b", reused=copied("a"), timings={"total_s": 10.0})  # another strategy, the same training examples
    taken_over = Run(key="c", reused=copied("old"), timings={"total_s": 7.0})  # from a smaller budget: the old run's seconds
    its_twin = Run(key="d", reused=copied("c"), timings={"total_s": 7.0})
    assert runs_cost_s([own, twin, taken_over, its_twin]) == 17.0 and runs_cost_s([]) == 0


def test_proxy_runs_where_the_target_was_loaded_and_skips_what_select_skips(tmp_path, tiny_target, one_thread, monkeypatch):
    from conftest import write_task
    from stylefit.api import select
    import importlib

    verify_module = importlib.import_module("stylefit.training.plan")  # the module, not the function of that name

    asked = []
    real = verify_module.run_numerics
    monkeypatch.setattr(verify_module, "run_numerics", lambda device, *a: asked.append(device) or real(device, *a))
    root = write_task(tmp_path / "task", n=8)
    params = {"validation": 4, "recipe": {"epochs": 1, "batch_size": 4}, "max_new_tokens": 6}
    run = lambda **options: select(root, root / "candidates", target=tiny_target, scorer="proxy", n=4, scorer_params=params,
                                   store=tmp_path / "store.sqlite", **options)
    first = run(device="cpu")
    assert asked == ["cpu"] and first.computed == 3
    skipping = run(device="cpu", skip_overlong=True)  # another recipe for the runs: each trained again
    assert skipping.computed == 3 and skipping.per_example == first.per_example  # nothing here is over-long


def test_route_keeps_each_questions_most_familiar_correct_response(tmp_path, tiny_lm, tiny_target):
    from conftest import write_task
    from stylefit.cli import app
    from stylefit.data.candidates import load_candidates
    from stylefit.selection.routing import route
    from stylefit.scoring import get_scorer
    from typer.testing import CliRunner

    wrong = lambda r: f"Final Answer: {int(r['gold']) + 1}"
    root = write_task(tmp_path / "task", n=6, strategies={"short": lambda r: f"Final Answer: {r['gold']}",
                                                          "steps": lambda r: f"{r['question'][8:-1]} = {r['gold']}\nFinal Answer: {r['gold']}",
                                                          "wrong": wrong})
    routed = route(root, root / "candidates", target=tiny_lm, scorer="ppl", store=tmp_path / "store.sqlite")
    assert routed.name == "routed:ppl" and len(routed.rows) == 6 and not routed.no_correct
    candidates = load_candidates(__import__("stylefit.data.task", fromlist=["load_task"]).load_task(root), root / "candidates")
    ppl = get_scorer("ppl")
    for row in routed.rows:
        assert row["from"] != "wrong"  # never a wrong response, however familiar
        scores = {s: score_one_candidate(tiny_lm, ppl, candidates.by_strategy[s][row["id"]]) for s in ("short", "steps")}
        assert row["from"] == min(scores, key=scores.get)
    assert sum(routed.composition.values()) == pytest.approx(1.0)
    # written beside the others, it is one more strategy; the routing summary is not mistaken for one
    path = routed.write(root / "candidates")
    again = load_candidates(candidates.task, root / "candidates")
    assert "routed:ppl" in again.strategies and path.exists()
    # the command line, between one right and one wrong strategy: every routed response is the right one
    result = CliRunner().invoke(app, ["route", str(root), str(root / "candidates" / "short.jsonl"), str(root / "candidates" / "wrong.jsonl"),
                                      "--out", str(tmp_path / "out"), "--model", tiny_target, "--cache", str(tmp_path / "store.sqlite")])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "out" / "routed:ppl.jsonl").read_text().splitlines()]
    assert [r["from"] for r in rows] == ["short"] * 6 and "short" in result.output


def score_one_candidate(lm, scorer, candidate):
    from stylefit.scoring import ScoringItem

    item = ScoringItem(candidate, 0)
    return scorer.combine(item, lm.loglikelihood(scorer.requests(lm, item))).value


@pytest.mark.parametrize("scorer,params", [("rsr", {}), ("local", {"window": 1}), ("grace", {"dim": 8, "splits": 4})])
def test_new_scorers_rank_through_select_and_resume_from_the_cache(tiny_lm, tiny_task, store, scorer, params):
    from stylefit import select

    result = select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer=scorer, scorer_params=params, n=8, store=store)
    assert result.computed == 24 and sorted(result.per_example) == ["short", "steps", "wordy"]
    for estimate in result.ranking.estimates:
        per = result.per_example[estimate.strategy]
        if scorer == "rsr":  # the strategy statistic is the ratio of the mean parts, not the mean ratio
            ranks, nlls = zip(*per["parts"])
            assert estimate.mean == pytest.approx(np.mean(ranks) / np.mean(nlls), rel=1e-9)
        else:
            assert estimate.mean == pytest.approx(np.mean(per["value"]), rel=1e-9)
        assert estimate.ci_low <= estimate.mean <= estimate.ci_high
    again = select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer=scorer, scorer_params=params, n=8, store=store)
    assert again.computed == 0 and again.per_example == result.per_example
