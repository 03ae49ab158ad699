"""The rule by which `stylefit run`'s default follows the live track's pre-registered cases, on
outcomes made by hand, and `run`'s default held to the committed verdict."""

import json

import pytest

from conftest import REPO
from stylefit.bench.live.default_rule import DefaultRule, load_rule, verdict
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


def test_stylefit_runs_default_is_the_committed_verdict():
    # the default moves when the evidence does, in the same commit as the figures that move it
    track = json.loads((REPO / "benchmarks" / "results" / "live_track.json").read_text(encoding="utf-8"))
    assert RunConfig.model_fields["scorer"].default == track["default_rule"]["run_scorer"]
