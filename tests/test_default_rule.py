"""The rule by which `stylefit run`'s default follows the live track's pre-registered cases, on
outcomes made by hand, and `run`'s default held to the committed verdict."""

import json

import pytest

from conftest import REPO
from stylefit.bench.live.config import LiveConfig, SelectorSpec
from stylefit.bench.live.default_rule import DefaultRule, Deviation, deviate, load_deviation, load_rule, run_settings, verdict
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


def test_a_deviation_applies_only_to_its_verdict_and_only_for_a_challenger_ahead_too():
    both_ahead = cases(6) | {"close": [outcome(0.7 + 0.05 * (i % 2), 1.0) for i in range(6)]}
    decided = verdict(RULE, both_ahead, [0.1, 0.2, 0.1, 0.3, 0.1, 0.2], {"inc", "good", "close", "costly"})
    assert (decided["default"], sorted(decided["ahead"])) == ("good", ["close", "good"])
    applied = deviate(decided, Deviation(rule_chose="good", instead="close", reason="why"))
    assert (applied["applied"], applied["not_applied_because"]) == (True, None)
    # a later verdict it was not written for, or a challenger the rule does not find ahead: not applied, and said why
    stale = deviate(decided, Deviation(rule_chose="inc", instead="close", reason="why"))
    assert not stale["applied"] and "written for a verdict of 'inc', and the rule chooses 'good'" in stale["not_applied_because"]
    behind = deviate(decided, Deviation(rule_chose="good", instead="costly", reason="why"))
    assert not behind["applied"] and "'costly' is not among the challengers the rule finds ahead" in behind["not_applied_because"]


def test_a_deviation_without_a_reason_is_a_one_line_error():
    with pytest.raises(StylefitError, match=r"^deviation.toml: reason: "):
        load_deviation('rule_chose = "a"\ninstead = "b"\nreason = ""\n', "deviation.toml")


def test_a_rule_naming_no_scorer_for_a_selector_is_a_one_line_error():
    with pytest.raises(StylefitError, match=r"^rule.toml: .*run_scorer: no scorer for 'b'$"):
        load_rule('incumbent = "a"\nchallengers = ["b"]\ndecide_after = 8\n[run_scorer]\na = "adaptive"\n', "rule.toml")


def test_run_settings_carry_the_selectors_own_parameters_over():
    rule = DefaultRule(incumbent="adaptive", challengers=["proxy-gold_loss", "proxy-paper", "ppl"], decide_after=8,
                       run_scorer={"adaptive": "adaptive", "proxy-gold_loss": "proxy", "proxy-paper": "proxy", "ppl": "sppl"})
    recipe = {"epochs": 2, "learning_rate": 1e-3}
    track = LiveConfig.model_construct(n_select=50, recipe=recipe, dtype="float32", selectors=[], cases=[])
    gold_loss = SelectorSpec(name="proxy-gold_loss", scorer="proxy", params={"measure": "gold_loss", "validation": 100})
    # the same scorer: judged on the track's n_select questions with its own parameters, which `run` then gets
    made = run_settings(rule, gold_loss, track)
    assert (made["scorer"], made["n"], made["scorer_params"]) == ("proxy", 50, {"measure": "gold_loss", "validation": 100})
    # the adaptive selector's proxy rounds fine-tuned with the track's recipe (less its epochs) in its dtype
    adaptive = run_settings(rule, SelectorSpec(name="adaptive", scorer="adaptive"), track)
    assert adaptive["scorer_params"] == {"recipe": {"learning_rate": 1e-3}, "dtype": "float32"}
    # the paper's proxy: the proxy scorer on its n questions, in the track's recipe, saying what differs
    paper = run_settings(rule, SelectorSpec(name="proxy-paper", scorer="paper_proxy", params={"n": 100}), track)
    assert (paper["n"], paper["scorer_params"]) == (100, {"validation": 100, "seed": 0, "recipe": recipe, "dtype": "float32"})
    assert any("evaluation budget" in note for note in paper["unlike_the_track"])
    with pytest.raises(StylefitError, match=r"^run_scorer: 'ppl' is scored by 'ppl', whose settings 'sppl' cannot take$"):
        run_settings(rule, SelectorSpec(name="ppl", scorer="ppl"), track)


def test_stylefit_runs_default_is_the_committed_verdict():
    # the default moves when the evidence does, in the same commit as the figures that move it, with the
    # sample size and parameters the chosen selector was judged under
    track = json.loads((REPO / "benchmarks" / "results" / "live_track.json").read_text(encoding="utf-8"))
    run = track["default_rule"]["run"]
    assert run is not None, "the default rule's selector is not among the track's selectors"
    rule = track["default_rule"]
    # the rule's choice, or the challenger a committed deviation from it names (applied only as the judge allows)
    deviation = rule["deviation"]
    assert rule["run_selector"] == (deviation["instead"] if deviation and deviation["applied"] else rule["default"])
    config = RunConfig(task="t", strategies=["a", "b"])
    assert config.scorer == run["scorer"]
    assert (config.n, config.scorer_params) == (run["n"], run["scorer_params"])
    # the default's settings are its own: another scorer named without parameters gets none
    assert RunConfig(task="t", strategies=["a", "b"], scorer="ppl").scorer_params == {}


def test_picks_are_counted_against_each_challenger_on_the_preregistered_cases_only():
    from stylefit.bench.live.report import picks_sentence

    def case(name: str, prereg: bool) -> dict:
        return {"case": name, "judged": True, "preregistered": prereg, "seeds": [0, 1], "noise": {"seed_std": 0.02, "binomial_se": 0.01}}

    # regrets (points): the development case would flip every count were it counted
    regrets = {"inc": [9.0, 1.0, 3.0], "good": [0.0, 0.0, 9.0], "close": [9.0, 1.0, 0.0]}
    track = {"default_rule": {"incumbent": "inc", "challengers": ["good", "close"]},
             "cases": [case("a", True), case("b", True), case("dev", False)],
             "outcomes": {n: [{"regret_points": r} for r in rs] for n, rs in regrets.items()}}
    text = picks_sentence(track)
    # beyond noise: 1.96 x sqrt(2) x sqrt(2²/2 + 1²) = 4.8 points apart, so 9 against 0 is, 1 against 0 is not
    assert text.startswith("On the 2 pre-registered cases, the regret of inc's pick")
    assert text.endswith("against good's, higher on 2 (1 beyond noise); against close's, equal on 2.")
    assert picks_sentence(track | {"default_rule": None}) == ""


def test_the_sentence_gives_the_verdict_then_the_deviation_and_what_run_decides_with():
    from stylefit.bench.live.report import default_rule_sentence

    rule = {"file": "rule.toml", "committed": "a" * 40, "changed_since": False, "status": "replaced", "reason": "it ranks above",
            "default": "good", "incumbent": "inc", "run_scorer": "proxy", "run_selector": "close",
            "run": {"scorer": "sppl", "n": 50, "scorer_params": {"k": 3}},
            "deviation": {"file": "dev.toml", "committed": "b" * 40, "changed_since": True, "rule_chose": "good", "instead": "close",
                          "reason": "good measures the format", "applied": True, "not_applied_because": None}}
    text = default_rule_sentence({"default_rule": rule})
    assert text.startswith("Default rule (`rule.toml`, committed at aaaaaaaa): it replaces the incumbent (it ranks above) and "
                           "chooses `good` (incumbent `inc`).")
    assert ("Deviation (`dev.toml`, committed at bbbbbbbb; edited since, the committed text is used; chosen after the results "
            "were seen), from a verdict of `good` to `close`: applied, because good measures the format.") in text
    assert text.endswith("So `stylefit run` decides with `sppl` on n=50 with k=3 (selector `close`).")
    unapplied = rule | {"run_selector": "good", "deviation": rule["deviation"] | {"applied": False, "not_applied_because": "stale"}}
    assert "to `close`: not applied, because stale." in default_rule_sentence({"default_rule": unapplied})
