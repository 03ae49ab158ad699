"""The main job end to end on a tiny model: every scorer, the cache, and resuming after a crash."""

import json
import math

import pytest

from stylefit import SelectionResult, select
from stylefit.core.errors import StylefitError
from stylefit.report.terminal import write_json


def reference_means(lm, scorer: str, params: dict, root, n: int, exemplars: list[str] | None) -> dict[str, float]:
    """Each strategy's mean score computed the slow, obvious way: one full forward pass per example."""
    from test_scorers import naive_logprobs

    from stylefit.data import load_candidates, load_task
    from stylefit.models.prompts import PAPER_SYSTEM_WRAPPER, sppl_prompt

    candidates = load_candidates(load_task(root), root / "candidates")
    means = {}
    for strategy in candidates.strategies:
        values = []
        for i, c in enumerate(candidates.candidates(strategy)[:n]):
            if scorer == "length":
                values.append(len(lm.tokenizer(lm.render_chat(c.prompt) + c.response).input_ids) - len(lm.tokenizer(lm.render_chat(c.prompt)).input_ids))
                continue
            prompt = c.prompt
            if scorer == "sppl":  # question i sees exemplars (i+1+j) mod (n-1), j < k
                prompt = sppl_prompt(prompt, [exemplars[(i + 1 + j) % (len(exemplars) - 1)] for j in range(params["k"])])
            if params.get("template", params.get("variant", "native")) == "paper":
                context, response, special = PAPER_SYSTEM_WRAPPER.replace("{prompt}", prompt), " " + c.response, True
            else:
                context, response, special = lm.render_chat(prompt), c.response, False
            logprobs = naive_logprobs(lm, context, response, special)
            nll = -sum(logprobs) / len(logprobs)
            if scorer == "ifd":
                unconditional = naive_logprobs(lm, "<s>", c.response, False)
                values.append(nll / (-sum(unconditional) / len(unconditional)))
            else:
                values.append(math.exp(nll))
        means[strategy] = sum(values) / len(values)
    return means


@pytest.mark.parametrize("scorer,params", [("ppl", {}), ("ppl", {"template": "paper"}), ("ifd", {}), ("length", {}),
                                           ("sppl", {"m": 6, "k": 2, "max_new_tokens": 8}),
                                           ("sppl", {"m": 6, "k": 2, "max_new_tokens": 8, "variant": "paper"})])
def test_every_scorer_ranks_all_strategies_as_a_naive_computation_does(tiny_lm, tiny_task, store, scorer, params):
    from stylefit.scoring import get_scorer

    instance = get_scorer(scorer, **params)
    result = select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer=instance, n=8, store=store)
    assert result.computed == 24 and result.ranking.n == 8
    exemplars = instance.exemplars.texts if scorer == "sppl" else None
    expected = reference_means(tiny_lm, scorer, params, tiny_task, 8, exemplars)
    assert {e.strategy: e.mean for e in result.ranking.estimates} == pytest.approx(expected, rel=1e-5)
    assert [e.strategy for e in result.ranking.estimates] == sorted(expected, key=expected.get)
    assert len(set(expected.values())) == 3  # distinct means: the order above is a real check
    again = select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer=scorer, scorer_params=params, n=8, store=store)
    assert again.computed == 0
    assert [e.mean for e in again.ranking.estimates] == [e.mean for e in result.ranking.estimates]


def test_a_crashed_run_resumes_without_recomputing(tiny_lm, tiny_task, store, monkeypatch):
    real = type(tiny_lm).loglikelihood
    calls = {"n": 0}

    def dies_on_second_chunk(self, requests, progress=None):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # as if killed in the middle of the run
        return real(self, requests, progress)

    monkeypatch.setattr(type(tiny_lm), "loglikelihood", dies_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer="ppl", n=12, store=store)
    monkeypatch.setattr(type(tiny_lm), "loglikelihood", real)
    resumed = select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer="ppl", n=12, store=store)
    # The first chunk (8 questions x 3 strategies) was committed before the crash.
    assert resumed.computed == (12 - 8) * 3
    fresh = select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer="ppl", n=12, store=store.path.parent / "other.sqlite")
    assert [e.mean for e in fresh.ranking.estimates] == pytest.approx([e.mean for e in resumed.ranking.estimates])


def test_a_selection_served_from_the_cache_states_what_it_would_cost_cold(tiny_lm, tiny_task, store):
    sppl = {"m": 6, "k": 2, "max_new_tokens": 8}  # the target's answers, then scores in their context
    first = select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer="sppl", scorer_params=sppl, n=8, store=store)
    assert first.computed > 0 and first.unrecorded == 0
    assert first.timings["cold_s"] == pytest.approx(first.timings["total_s"])  # everything computed now
    again = select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer="sppl", scorer_params=sppl, n=8, store=store)
    assert again.computed == 0 and again.unrecorded == 0
    # the target's answers and the scores, read from the cache, at what computing them cost the first call
    cached_s = again.timings["cold_s"] - again.timings["total_s"]
    assert 0 < cached_s <= first.timings["prepare_s"] + first.timings["score_s"]
    with store._db:  # as a store written before values recorded their cost
        store._db.execute("UPDATE results SET seconds = NULL")
    old = select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer="sppl", scorer_params=sppl, n=8, store=store)
    assert old.unrecorded == 8 * 3 + 6  # 8 questions x 3 strategies' scores, and the target's 6 answers
    assert old.timings["cold_s"] == pytest.approx(old.timings["total_s"])
    from rich.console import Console

    from stylefit.report.terminal import print_selection

    console = Console(record=True, width=400)
    print_selection(old, console)
    assert f"at least {old.timings['cold_s']:.1f}s with nothing cached (30 cached values were stored before their cost was recorded)" in console.export_text()


def test_other_parameters_or_models_do_not_share_cache_entries(tiny_lm, uniform_lm, tiny_task, store):
    select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer="ppl", n=4, store=store)
    assert select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer="ppl", scorer_params={"template": "plain"}, n=4, store=store).computed == 12
    assert select(tiny_task, tiny_task / "candidates", target=uniform_lm, scorer="ppl", n=4, store=store).computed == 12


def test_overlong_questions_error_or_are_skipped_and_counted(tiny_lm, tmp_path, store):
    from conftest import write_task

    long = lambda r: ("very long answer " * 40 if r["id"] == "q2" else "ok ") + f"Final Answer: {r['gold']}"
    root = write_task(tmp_path / "t", strategies={"short": lambda r: f"Final Answer: {r['gold']}", "long": long})
    with pytest.raises(StylefitError, match="strategy 'long' id 'q2'.*context 512.*--skip-overlong"):
        select(root, root / "candidates", target=tiny_lm, scorer="ppl", n=6, store=store)
    result = select(root, root / "candidates", target=tiny_lm, scorer="ppl", n=6, store=store, skip_overlong=True)
    assert result.sample_ids == ["q0", "q1", "q3", "q4", "q5"] and list(result.skipped) == ["q2"]
    assert any("1/6 questions dropped" in n for n in result.notes)


def test_sample_seed_and_bad_n(tiny_lm, tiny_task, store):
    result = select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer="length", n=5, sample_seed=3, store=store)
    assert len(result.sample_ids) == 5 and result.sample_ids != ["q0", "q1", "q2", "q3", "q4"]
    with pytest.raises(StylefitError, match="share only 12 questions"):
        select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer="length", n=50, store=store)


def test_result_json_is_complete(tiny_lm, tiny_task, store, tmp_path):
    result = select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer="ppl", n=6, store=store)
    write_json(result, tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["best"] == result.best and data["revision"] == "tiny-0" and data["scorer_params"] == {"template": "native"}
    assert len(data["ranking"]["estimates"]) == 3 and data["ranking"]["n"] == 6 and data["ranking"]["n_bootstrap"] == 2000
    assert {"mean", "ci_low", "ci_high", "p_best", "mean_nll", "median"} <= set(data["ranking"]["estimates"][0])
    # Every per-example score is kept, in the sample's order, so a later judge needs no rescoring.
    for e in data["ranking"]["estimates"]:
        values = data["per_example"][e["strategy"]]["value"]
        assert len(values) == 6 and abs(sum(values) / 6 - e["mean"]) < 1e-9
    assert SelectionResult.from_dict(data).per_example == result.per_example


def base_model():
    """The tiny model without a chat template, like a base model."""
    from conftest import char_tokenizer, tiny_llama
    from stylefit.models.registry import ResolvedModel
    from stylefit.models.transformers_lm import TransformersLM

    tokenizer = char_tokenizer()
    tokenizer.chat_template = None
    return TransformersLM(ResolvedModel("tiny-base", "<in-memory>", "tiny-0"), model=tiny_llama(0), tokenizer=tokenizer)


@pytest.mark.parametrize("scorer,params", [("ppl", {"template": "plain"}), ("ppl", {"template": "paper"}),
                                           ("ifd", {"template": "plain"}), ("length", {}),
                                           ("sppl", {"variant": "plain", "m": 6, "k": 2, "max_new_tokens": 8}),
                                           ("sppl", {"variant": "paper", "m": 6, "k": 2, "max_new_tokens": 8}),
                                           ("alignment", {"function": "token_f1", "m": 2, "max_new_tokens": 6})])
def test_a_model_without_chat_template_is_scored_with_every_scorer(tiny_task, store, scorer, params):
    lm = base_model()
    assert lm.template_id == "none"
    result = select(tiny_task, tiny_task / "candidates", target=lm, scorer=scorer, scorer_params=params, n=4, store=store)
    assert sorted(e.strategy for e in result.ranking.estimates) == ["short", "steps", "wordy"] and result.computed == 12


@pytest.mark.parametrize("scorer,params,option", [("ppl", {}, "template"), ("ifd", {}, "template"),
                                                  ("sppl", {"m": 6, "k": 2}, "variant")])
def test_the_chat_template_on_a_base_model_is_an_error_naming_options_that_exist(tiny_task, store, scorer, params, option):
    from stylefit.scoring import get_scorer

    with pytest.raises(StylefitError) as e:
        select(tiny_task, tiny_task / "candidates", target=base_model(), scorer=scorer, scorer_params=params, n=4, store=store)
    message = str(e.value)
    assert message == (f"{scorer}: model 'tiny-base' has no chat template, so {option} 'native' cannot be used; "
                       f"use {option} 'plain' or 'paper'")
    for value in ("plain", "paper"):  # the options named exist
        get_scorer(scorer, **params, **{option: value})


def test_tied_scores_share_rank_and_p_best_and_no_pick_is_claimed(tiny_lm, tiny_task, store):
    from rich.console import Console

    from stylefit.report.terminal import print_selection, ranking_text

    # A random tiny model never writes a candidate exactly: every strategy scores 0 with exact match.
    result = select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer="alignment",
                    scorer_params={"function": "exact", "m": 2, "max_new_tokens": 6}, n=6, store=store)
    assert [e.rank for e in result.ranking.estimates] == [1, 1, 1]
    assert [e.p_best for e in result.ranking.estimates] == pytest.approx([1 / 3] * 3)
    assert sorted(result.ranking.tied_best) == ["short", "steps", "wordy"]
    assert ranking_text(result.ranking).count(" = ") == 2 and " > " not in ranking_text(result.ranking)
    console = Console(width=200, record=True)
    print_selection(result, console)
    text = console.export_text()
    assert "1.00" not in text and "0.33" in text
    assert "No pick at N=6: 3 strategies tie for best" in text and "Pick:" not in text
    # The result says so too: no best, whatever the files' order, and the tied strategies by name.
    assert result.best is None and result.to_dict()["best"] is None
    assert sorted(result.to_dict()["tied_best"]) == ["short", "steps", "wordy"]


@pytest.mark.parametrize("scorer,params", [("ppl", {}), ("sppl", {"m": 12, "k": 3, "max_new_tokens": 8}),
                                           ("alignment", {"function": "token_f1", "m": 2, "max_new_tokens": 20, "temperature": 0.01,
                                                          "correct_only": True, "no_correct": "drop"})])
def test_one_scorer_instance_on_two_tasks_equals_two_fresh_instances(parrot_lm, tmp_path, scorer, params):
    import json as json_

    from conftest import write_task
    from stylefit.scoring import get_scorer

    first = write_task(tmp_path / "a", n=3)  # few questions: SPPL lowers k for this one
    second = write_task(tmp_path / "b", n=12)
    rows = [json_.loads(line) for line in (second / "train.jsonl").read_text().splitlines()]
    # The parrot answers 1: right on every question of the second task but q5..q7 (dropped there), wrong on
    # every question of the first (all dropped there: q0..q2, which the second task must keep).
    (second / "train.jsonl").write_text("".join(json_.dumps(r | {"gold": "0" if 5 <= i <= 7 else "1"}) + "\n" for i, r in enumerate(rows)))
    shared = get_scorer(scorer, **params)
    run = lambda root, instance, name: select(root, root / "candidates", target=parrot_lm, scorer=instance, n=3 if root == first else 8,
                                              store=tmp_path / f"{name}.sqlite")
    if scorer == "alignment":  # every question of the first task has no correct sample: all dropped
        with pytest.raises(StylefitError, match="only 0 questions left"):
            run(first, shared, "shared")
    else:
        run(first, shared, "shared")
    reused = run(second, shared, "shared")
    fresh = run(second, get_scorer(scorer, **params), "fresh")
    assert reused.sample_ids == fresh.sample_ids
    if scorer == "alignment":
        assert fresh.sample_ids == ["q0", "q1", "q2", "q3", "q4"]
    # equal up to float rounding: the shared instance's store already held some of these scores,
    # so the rest were batched with other contexts (batch composition moves the last bits)
    assert [e.strategy for e in reused.ranking.estimates] == [e.strategy for e in fresh.ranking.estimates]
    assert [e.mean for e in reused.ranking.estimates] == pytest.approx([e.mean for e in fresh.ranking.estimates], rel=1e-6)
    assert reused.notes == fresh.notes


def test_a_question_with_a_response_flagged_truncated_leaves_the_sample_for_every_strategy(tiny_lm, tiny_task, store):
    # training never sees a cut response, so the sample that predicts training does not either (paired)
    wordy = tiny_task / "candidates" / "wordy.jsonl"
    rows = [json.loads(line) for line in wordy.read_text().splitlines()]
    rows[1]["truncated"] = True
    wordy.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer="length", n=4, store=store)
    assert result.sample_ids == ["q0", "q2", "q3"] and "flagged truncated" in result.skipped["q1"]
    assert any(note.startswith("1/4 questions dropped for every strategy (a response flagged truncated") for note in result.notes)
    assert {s: len(v["value"]) for s, v in result.per_example.items()} == {"short": 3, "steps": 3, "wordy": 3}
    # the terminal says so above the verdict, not only in a dim note
    from rich.console import Console

    from stylefit.report.terminal import print_selection

    console = Console(width=300, record=True)
    print_selection(result, console)
    assert (result.n_asked, result.n_used) == (4, 3)
    assert "Scored 3 of the 4 questions asked: 1 have a response cut, excluded by the scorer or too long" in console.export_text()
    # with fewer than two left the sample is refused as too small: a refusal a benchmark records, not a crash
    from stylefit.core.errors import TooFewQuestions

    wordy.write_text("".join(json.dumps(r | {"truncated": i != 0}) + "\n" for i, r in enumerate(rows)))
    with pytest.raises(TooFewQuestions, match=r"^only 1 of 4 questions have no response flagged truncated$"):
        select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer="length", n=4, store=store)
