"""Selection-quality figures against hand-computed values (no data bundle needed)."""

import itertools
import math

import numpy as np
import pytest

from stylefit.selection import quality as sq


def test_perfect_ranking_with_tied_accuracies():
    accuracy = np.array([0.5, 0.7, 0.6, 0.6])
    outcome = sq.evaluate(np.array([1.0, 4.0, 2.0, 3.0]), accuracy)
    # ranks 1,4,2,3 vs 1,4,2.5,2.5: Pearson of ranks = 4.5 / sqrt(5 * 4.5)
    assert outcome.spearman == pytest.approx(4.5 / math.sqrt(5 * 4.5))
    assert outcome.top1_accuracy == 0.7 and outcome.hit == 1.0 and outcome.regret_points == 0.0
    assert outcome.pairwise_accuracy == 1.0  # the tied pair (2, 3) is not decisive
    assert outcome.best_accuracy == 0.7


def test_wrong_pick_regret_and_pairwise():
    accuracy = np.array([0.40, 0.55, 0.50])
    outcome = sq.evaluate(np.array([0.0, 1.0, 2.0]), accuracy)  # picks strategy 2
    assert outcome.top1_accuracy == 0.50
    assert outcome.hit == 0.0
    assert outcome.regret_points == pytest.approx(5.0)
    assert outcome.pairwise_accuracy == pytest.approx(2 / 3)  # (0,1) and (0,2) right, (1,2) wrong
    assert outcome.spearman == pytest.approx(0.5)


def test_tied_top_is_the_expected_pick():
    outcome = sq.evaluate(np.array([2.0, 2.0, 0.0]), np.array([0.5, 0.7, 0.1]))
    assert outcome.top1_accuracy == pytest.approx(0.6)
    assert outcome.hit == 0.5
    assert outcome.regret_points == pytest.approx(10.0)


def test_all_tied_preference_equals_the_average_over_random_rankings():
    accuracy = np.array([0.30, 0.52, 0.52, 0.41, 0.38])
    tied = sq.evaluate(np.zeros(5), accuracy)
    perms = np.array(list(itertools.permutations(range(5))), dtype=float)
    exact = sq.evaluate(perms, accuracy)  # a batch: every ranking once
    assert tied.spearman == pytest.approx(np.mean(exact.spearman), abs=1e-12)
    assert tied.pairwise_accuracy == pytest.approx(np.mean(exact.pairwise_accuracy))
    assert tied.top1_accuracy == pytest.approx(np.mean(exact.top1_accuracy))
    assert tied.hit == pytest.approx(np.mean(exact.hit)) == pytest.approx(2 / 5)


def test_batch_matches_single_evaluations():
    rng = np.random.default_rng(3)
    accuracy = rng.random(6)
    prefs = rng.random((4, 6))
    batch = sq.evaluate(prefs, accuracy)
    for i, p in enumerate(prefs):
        single = sq.evaluate(p, accuracy)
        assert batch.spearman[i] == pytest.approx(single.spearman)
        assert batch.top1_accuracy[i] == single.top1_accuracy


def test_pick_only_selector_has_no_rank_figures():
    outcome = sq.evaluate(np.array([0.0, 1.0, 0.0]), np.array([0.2, 0.3, 0.4]), ranks=False)
    assert math.isnan(outcome.spearman) and math.isnan(outcome.pairwise_accuracy)
    assert outcome.top1_accuracy == 0.3


def test_uninformative_case_is_an_error():
    with pytest.raises(ValueError, match="same accuracy"):
        sq.evaluate(np.array([1.0, 2.0]), np.array([0.5, 0.5]))


def test_weighted_spearman_and_bootstrap_interval():
    outcomes = [sq.CaseOutcome(0.2, 0.5, 0.6, 0.0, 10.0, 0.6), sq.CaseOutcome(0.6, 0.7, 0.7, 1.0, 0.0, 0.8)]
    figures = sq.summarize(outcomes, [1.0, 3.0], n_resamples=2000)
    rho = figures["weighted_spearman"]
    assert rho.estimate == pytest.approx((0.2 * 1 + 0.6 * 3) / 4)
    assert 0.2 <= rho.low <= rho.estimate <= rho.high <= 0.6
    assert figures["top1_accuracy_points"].estimate == pytest.approx(60.0)
    assert figures["regret_points"].estimate == pytest.approx(5.0)
    assert figures["upper_bound_points"].estimate == pytest.approx(65.0)
    again = sq.summarize(outcomes, [1.0, 3.0], n_resamples=2000)
    assert again == figures  # seeded


def test_bootstrap_interval_narrows_with_more_cases():
    rng = np.random.default_rng(0)
    few = [sq.CaseOutcome(r, 0.5, 0.6, 0.0, 1.0, 0.5) for r in rng.normal(0.3, 0.2, 8)]
    many = [sq.CaseOutcome(r, 0.5, 0.6, 0.0, 1.0, 0.5) for r in rng.normal(0.3, 0.2, 200)]
    width = lambda o: (lambda i: i.high - i.low)(sq.summarize(o, np.ones(len(o)), n_resamples=2000)["mean_spearman"])
    assert width(many) < width(few) / 2


def test_undefined_figures_are_nan_not_zero():
    outcomes = [sq.CaseOutcome(float("nan"), 0.5, 0.6, 0.0, 10.0, float("nan"))] * 3
    figures = sq.summarize(outcomes, [0.1, 0.2, 0.3], n_resamples=100)
    assert math.isnan(figures["weighted_spearman"].estimate)
    assert figures["top1_accuracy_points"].estimate == pytest.approx(50.0)


def test_win_tie_loss_and_sign_test():
    signs = sq.win_tie_loss([0.1, 0.0, -0.2, 0.3])
    assert (signs.wins, signs.ties, signs.losses) == (2, 1, 1)
    assert signs.sign_test_p == pytest.approx(1.0)
    assert sq.win_tie_loss([1.0] * 8).sign_test_p == pytest.approx(2 / 2**8)


def test_subsets_are_strict_thresholds():
    assert sq.in_subset(0.0, "all")
    assert not sq.in_subset(0.04, "sigma_gt_4") and sq.in_subset(0.0401, "sigma_gt_4")
    assert sq.accuracy_spread([0.5, 0.7]) == pytest.approx(math.sqrt(0.02))
