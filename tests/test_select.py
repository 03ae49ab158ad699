"""The main job end to end on a tiny model: every scorer, the cache, and resuming after a crash."""

import json

import pytest

from stylefit import select
from stylefit.errors import StylefitError
from stylefit.report import write_json


@pytest.mark.parametrize("scorer,params", [("ppl", {}), ("ppl", {"template": "paper"}), ("ifd", {}), ("length", {}),
                                           ("sppl", {"m": 6, "k": 2, "max_new_tokens": 8}),
                                           ("sppl", {"m": 6, "k": 2, "max_new_tokens": 8, "variant": "paper"})])
def test_every_scorer_ranks_all_strategies(tiny_lm, tiny_task, store, scorer, params):
    result = select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer=scorer, scorer_params=params, n=8, store=store)
    assert sorted(e.strategy for e in result.ranking.estimates) == ["short", "steps", "wordy"]
    assert result.computed == 24 and result.ranking.n == 8
    if scorer == "length":  # the only scorer whose order is known in advance: shortest first
        assert [e.strategy for e in result.ranking.estimates] == ["short", "steps", "wordy"]
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
