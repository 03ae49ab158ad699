import numpy as np
import pytest

from stylefit.selection import rank_strategies


def test_clearly_different_strategies_are_separated():
    rng = np.random.default_rng(1)
    hardness = rng.normal(5, 2, size=40)  # shared per-question difficulty: pairing removes it
    values = {"a": hardness + 0.5 + rng.normal(0, 0.1, 40), "b": hardness + rng.normal(0, 0.1, 40), "c": hardness + 1.0}
    r = rank_strategies(values, higher_is_better=False, n_bootstrap=1000, seed=0)
    assert [e.strategy for e in r.estimates] == ["b", "a", "c"]
    assert r.top_two_separated and r.n_to_separate is None
    assert r.estimates[0].p_best == pytest.approx(1.0)
    for e in r.estimates:
        assert e.ci_low <= e.mean <= e.ci_high
    assert sum(e.p_best for e in r.estimates) == pytest.approx(1.0)


def test_noise_is_reported_as_not_separated_with_the_n_that_would_settle_it():
    rng = np.random.default_rng(2)
    values = {"a": rng.normal(3.0, 1.0, 20), "b": rng.normal(3.05, 1.0, 20)}
    r = rank_strategies(values, higher_is_better=False, n_bootstrap=1000, seed=0)
    assert not r.top_two_separated
    assert r.n_to_separate is not None and r.n_to_separate > 20
    assert 0.05 < r.estimates[0].p_best < 0.95


def test_higher_is_better_reverses_the_order():
    values = {"a": np.array([1.0, 2.0, 3.0]), "b": np.array([2.0, 3.0, 4.0])}
    assert rank_strategies(values, higher_is_better=True).best == "b"
    assert rank_strategies(values, higher_is_better=False).best == "a"


def test_tied_strategies_share_p_best_and_rank_whatever_their_order():
    values = {"c": np.zeros(10), "a": np.zeros(10), "b": np.ones(10)}
    r = rank_strategies(values, higher_is_better=False, n_bootstrap=500)
    by_name = {e.strategy: e for e in r.estimates}
    assert by_name["c"].p_best == by_name["a"].p_best == pytest.approx(0.5)
    assert by_name["b"].p_best == 0 and (by_name["a"].rank, by_name["c"].rank, by_name["b"].rank) == (1, 1, 3)
    assert sorted(r.tied_best) == ["a", "c"] and not r.top_two_separated and r.n_to_separate is None
    everything = rank_strategies({s: np.full(8, 0.25) for s in "xyzw"}, higher_is_better=True, n_bootstrap=200)
    assert [e.rank for e in everything.estimates] == [1, 1, 1, 1]
    assert [e.p_best for e in everything.estimates] == pytest.approx([0.25] * 4)


def test_means_tied_only_on_average_share_the_rank_and_split_the_resamples():
    a = np.array([1.0, 3.0, 2.0, 4.0, 5.0, 0.0])
    r = rank_strategies({"a": a, "b": a[::-1].copy()}, higher_is_better=False, n_bootstrap=2000)
    assert [e.rank for e in r.estimates] == [1, 1]
    assert r.estimates[0].p_best + r.estimates[1].p_best == pytest.approx(1.0)
    assert 0.3 < r.estimates[0].p_best < 0.7


def test_ratio_of_means_ranks_by_the_ratio_not_the_mean_of_ratios():
    # a: ratios 1 and 3 (mean 2), but sums 1+30 / 1+10 = 2.82; b: ratios 2.5 and 2.5
    parts = {"a": (np.array([1.0, 30.0]), np.array([1.0, 10.0])), "b": (np.array([5.0, 5.0]), np.array([2.0, 2.0]))}
    values = {s: num / den for s, (num, den) in parts.items()}
    by_mean = rank_strategies(values, higher_is_better=False, n_bootstrap=200)
    by_ratio = rank_strategies(values, higher_is_better=False, n_bootstrap=200, ratio_parts=parts)
    assert by_mean.best == "a" and by_ratio.best == "b"
    assert by_ratio.estimates[0].mean == pytest.approx(2.5)
    assert by_ratio.estimates[1].mean == pytest.approx(31 / 11)
