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
