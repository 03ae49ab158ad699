"""The rule by which `stylefit run`'s default follows the live track's pre-registered cases, on
outcomes made by hand, and `run`'s default held to the committed verdict."""

import json

import pytest

from conftest import REPO
from stylefit.bench.live.config import SelectorSpec
from stylefit.bench.live.default_rule import DefaultRule, load_rule, run_settings, verdict
from stylefit.core.errors import StylefitError
from stylefit.loop import RunConfig
from stylefit.selection.quality import CaseOutcome

RULE = DefaultRule(incumbent="inc", challengers=["good", "close", "costly"], decide_after=4,
                   run_scorer={"inc": "adaptive", "good": "proxy", "close": "sppl", "costly": "ppl"})


def outcome(rho: float, regret: float) -> CaseOutcome:
    return CaseOutcome(spearman=rho, top1_accuracy=0.5, best_accuracy=0.6, hit=0.5, regret_points=regret, pairwise_accuracy=0.6)


def cases(n: int) -> dict[str, list[CaseOutcome]]:
    return {"inc": [outcome(0.2 + 0.05 * (i % 3), 5.0) for i in range(n)],
            "good": [outcome(0.8 + 0.05 * (i % 2), 1.0) for i in range(n)],  # ahead on every case, regret smaller
            "close": [outcome(0.2 + 0.1 * (i % 2 * 2 - 1), 5.0) for i in range(n)],  # ahead on half, behind on half
            "costly": [outcome(0.95, 9.0) for _ in range(n)]}  # ahead on ρ, but its picks cost more


def test_the_incumbent_stays_until_enough_cases_are_judged():
    v = verdict(RULE, cases(3), [0.1] * 3, {"inc", "good", "close", "costly"})
    assert (v["status"], v["default"], v["run_scorer"]) == ("waiting", "inc", "adaptive")
    assert v["reason"] == "3 of the 4 pre-registered cases it waits for are judged"


def test_a_challenger_ahead_beyond_the_interval_with_no_larger_regret_replaces_it():
    v = verdict(RULE, cases(6), [0.1, 0.2, 0.1, 0.3, 0.1, 0.2], {"inc", "good", "close", "costly"})
    assert (v["status"], v["default"], v["run_scorer"]) == ("replaced", "good", "proxy")
    assert v["paired"]["good"]["weighted_spearman"]["low"] > 0 and v["paired"]["close"]["weighted_spearman"]["low"] < 0
    assert v["paired"]["costly"]["weighted_spearman"]["low"] > 0 and v["paired"]["costly"]["regret_points"]["estimate"] > 0


def test_without_such_a_challenger_or_judged_as_registered_the_incumbent_is_kept():
    v = verdict(RULE, cases(6), [0.1] * 6, {"inc", "close", "costly"})  # 'good' not judged as registered
    assert (v["status"], v["default"], v["left_out"]) == ("kept", "inc", ["good"])
    assert verdict(RULE, cases(6), [0.1] * 6, {"good"})["status"] == "undecided"


def test_a_rule_naming_no_scorer_for_a_selector_is_a_one_line_error():
    with pytest.raises(StylefitError, match=r"^rule.toml: .*run_scorer: no scorer for 'b'$"):
        load_rule('incumbent = "a"\nchallengers = ["b"]\ndecide_after = 8\n[run_scorer]\na = "adaptive"\n', "rule.toml")


def test_run_settings_carry_the_selectors_own_parameters_over():
    rule = DefaultRule(incumbent="adaptive", challengers=["proxy-gold_loss", "proxy-paper", "ppl"], decide_after=8,
                       run_scorer={"adaptive": "adaptive", "proxy-gold_loss": "proxy", "proxy-paper": "proxy", "ppl": "sppl"})
    recipe = {"epochs": 2, "learning_rate": 1e-3}
    gold_loss = SelectorSpec(name="proxy-gold_loss", scorer="proxy", params={"measure": "gold_loss", "validation": 100})
    # the same scorer: judged on the track's n_select questions with its own parameters, which `run` then gets
    assert run_settings(rule, gold_loss, 50, recipe, "float32") == {
        "scorer": "proxy", "n": 50, "scorer_params": {"measure": "gold_loss", "validation": 100}}
    # the paper's proxy: the proxy scorer on its n questions, in the track's recipe, saying what differs
    paper = run_settings(rule, SelectorSpec(name="proxy-paper", scorer="paper_proxy", params={"n": 100}), 50, recipe, "float32")
    assert (paper["n"], paper["scorer_params"]) == (100, {"validation": 100, "seed": 0, "recipe": recipe, "dtype": "float32"})
    assert "evaluation budget" in paper["unlike_the_track"]
    with pytest.raises(StylefitError, match=r"^run_scorer: 'ppl' is scored by 'ppl', whose settings 'sppl' cannot take$"):
        run_settings(rule, SelectorSpec(name="ppl", scorer="ppl"), 50, recipe, "float32")


def test_stylefit_runs_default_is_the_committed_verdict():
    # the default moves when the evidence does, in the same commit as the figures that move it, with the
    # sample size and parameters the chosen selector was judged under
    track = json.loads((REPO / "benchmarks" / "results" / "live_track.json").read_text(encoding="utf-8"))
    run, fields = track["default_rule"]["run"], RunConfig.model_fields
    assert fields["scorer"].default == track["default_rule"]["run_scorer"] == run["scorer"]
    assert (fields["n"].default, fields["scorer_params"].default_factory()) == (run["n"], run["scorer_params"])


def test_picks_are_counted_against_each_challenger_on_the_preregistered_cases_only():
    from stylefit.bench.live.report import picks_sentence

    def case(name: str, prereg: bool, run_sd: float) -> dict:
        return {"case": name, "judged": True, "preregistered": prereg, "seeds": [0, 1], "noise": {"run_sd": run_sd}}

    # regrets (points): the development case would flip every count were it counted
    regrets = {"inc": [9.0, 1.0, 3.0], "good": [0.0, 0.0, 9.0], "close": [9.0, 1.0, 0.0]}
    track = {"preregistration": {"recommended": "inc"}, "default_rule": {"challengers": ["good", "close"]},
             "cases": [case("a", True, 0.02), case("b", True, 0.02), case("dev", False, 0.02)],
             "outcomes": {n: [{"regret_points": r} for r in rs] for n, rs in regrets.items()}}
    text = picks_sentence(track)
    # beyond noise: more than 2 x 2 points x sqrt(2/2) = 4 points apart, so 9 vs 0 is, 1 vs 0 is not
    assert "Picks on the 2 pre-registered cases, inc's" in text
    assert text.endswith("good: worse on 2 (1 beyond noise); close: the same on 2.")
    assert picks_sentence(track | {"preregistration": None}) == ""
