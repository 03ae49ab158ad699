"""The selectors judged on the paper track: the paper's rows, simple baselines, new ones.

A selector maps (case, block) to a preference over `case.evaluated_strategies` (higher =
preferred). Blocks are the half-open id ranges of the main tables; a selector that reads no
per-item data returns the same preference for every block. When the bundle lacks the data a
selector needs for a case, it raises MissingData, and the track counts and reports that case
instead of scoring it.

A selector with fitted parameters is a `FittedSelector`: the track fits it leave-one-task-out,
so its parameters never see the task it is scored on.

The list below was fixed before the first run of the track; every selector is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata, trim_mean, zscore

from stylefit.bench.paper.data import (
    CANDIDATES_FILE,
    GROUND_TRUTH_FILE,
    MAIN_BLOCKS,
    SPPL_PER_EXAMPLE_FILE,
    MissingScores,
    PaperBench,
    PaperCase,
    ScoreKey,
)
from stylefit.bench.paper.tables import FIXED_STRATEGIES

Block = tuple[int, int]
Preference = Callable[[PaperBench, PaperCase, Block], np.ndarray]

# The published configuration (bundle README): SPPL k=2 and the other metrics from the
# authors' record_book_backup folder.
SOURCE = "record_book_backup"
SPPL_K2 = ScoreKey("SPPL", "k2", SOURCE)
REFERENCE_SELECTOR = "SPPL k=2 (paper)"
PROXY_SEED = 0
TRIM = 0.1  # share of items cut from each tail by the trimmed-mean selector (fixed a priori)


class MissingData(Exception):
    """The bundle lacks what a selector needs for this case (the message says what)."""


@dataclass(frozen=True)
class Selector:
    name: str
    kind: str  # "paper" (a row of the paper), "baseline", "new", or "reference" (the oracle)
    description: str
    prefer: Preference
    ranks: bool = True  # False: it only picks one strategy (no rho, no pairwise accuracy)


# ---------------------------------------------------------------------------------------------
# Inputs


def check_judgeable(case: PaperCase) -> None:
    """MissingData if the case cannot tell selectors apart: it needs >= 2 evaluated strategies
    with different accuracies (what selection.quality.evaluate requires)."""
    accuracy = case.accuracies()
    if len(accuracy) < 2 or np.ptp(accuracy) == 0:
        raise MissingData(f"{len(accuracy)} evaluated strategies, all with the same accuracy: nothing to judge")


def need_file(bench: PaperBench, name: str) -> None:
    """MissingData naming an optional file the bundle lacks (a clearer reason than 'no record')."""
    if name in bench.absent_files:
        raise MissingData(f"{name} is not in the bundle")


def block_scores(bench: PaperBench, case: PaperCase, key: ScoreKey, block: Block) -> np.ndarray:
    """Released block means of `key` for the evaluated strategies."""
    try:
        scores = bench.block_score(case, key, block)
    except MissingScores as e:
        raise MissingData(str(e)) from None
    values = np.array([scores[s] for s in case.evaluated_strategies])
    if not np.isfinite(values).all():
        raise MissingData(f"{key.metric} is not finite for an evaluated strategy")
    return values


def per_example_sppl(bench: PaperBench, case: PaperCase, key: ScoreKey, block: Block | None) -> np.ndarray:
    """Per-example SPPL, shape (n_strategies, n_items), for the ids of `block` (all if None)."""
    need_file(bench, SPPL_PER_EXAMPLE_FILE)
    rows = []
    for s in case.evaluated_strategies:
        values = bench.sppl_per_example.get((case.model, case.task, key, s))
        if values is None:
            raise MissingData(f"no per-example {key.metric} {key.variant} for {s}")
        rows.append(values if block is None else values[block[0] : block[1]])
    return np.array(rows)


def response_words(bench: PaperBench, case: PaperCase, block: Block) -> np.ndarray:
    """Mean response length (words) of each evaluated strategy over the block's ids."""
    need_file(bench, CANDIDATES_FILE)
    means = []
    for s in case.evaluated_strategies:
        words = bench.response_words.get((case.task, s))
        if words is None:
            raise MissingData(f"no candidates of {s} for {case.task}")
        means.append(words[block[0] : block[1]].mean())
    return np.array(means)


def mean_rank(preferences: Sequence[np.ndarray]) -> np.ndarray:
    """Rank aggregation (Borda): minus the mean within-case rank, rank 1 = most preferred."""
    return -np.mean([rankdata(-p, method="average") for p in preferences], axis=0)


# ---------------------------------------------------------------------------------------------
# Selector factories


def block_metric(name: str, key: ScoreKey, higher_is_better: bool, kind: str, description: str) -> Selector:
    sign = 1.0 if higher_is_better else -1.0
    return Selector(name, kind, description, lambda bench, case, block: sign * block_scores(bench, case, key, block))


def per_example_aggregate(name: str, aggregate: Callable[[np.ndarray], np.ndarray], description: str) -> Selector:
    """A new aggregate of per-example SPPL (k=2) over the block; lower aggregate = preferred."""

    def prefer(bench: PaperBench, case: PaperCase, block: Block) -> np.ndarray:
        return -aggregate(per_example_sppl(bench, case, SPPL_K2, block))

    return Selector(name, "new", description, prefer)


def fixed(strategy: str) -> Selector:
    def prefer(bench: PaperBench, case: PaperCase, block: Block) -> np.ndarray:
        if strategy not in case.evaluated_strategies:
            raise MissingData(f"{strategy} is not evaluated in this case")
        return np.array([float(s == strategy) for s in case.evaluated_strategies])

    return Selector(f"always {strategy}", "paper", f"always pick {strategy}", prefer, ranks=False)


def proxy_accuracy(bench: PaperBench, case: PaperCase, block: Block) -> np.ndarray:
    """Test accuracy after training on 100 examples, seed 0 (the paper's proxy baseline)."""
    need_file(bench, GROUND_TRUTH_FILE)
    accuracies = []
    for s in case.evaluated_strategies:
        runs = bench.proxy_accuracy.get((case.model, case.task, s), {})
        if PROXY_SEED not in runs:
            raise MissingData(f"no seed-{PROXY_SEED} train-on-100 run of {s} (seeds present: {sorted(runs)})")
        accuracies.append(runs[PROXY_SEED])
    return np.array(accuracies)


def adaptive_proxy(bench: PaperBench, case: PaperCase, block: Block) -> np.ndarray:
    """Issue 24's adaptive selector on the released records, with its pre-registered shortlist: SPPL
    k=2's top 3 plus every strategy whose paired interval (per-example SPPL over the block) includes
    0 against SPPL's leader; the train-on-100 proxy orders the shortlist, SPPL the rest, after it."""
    from stylefit.selection.adaptive import AdaptiveSettings
    from stylefit.selection.bootstrap import paired_difference

    settings = AdaptiveSettings()
    sppl = per_example_sppl(bench, case, SPPL_K2, block)  # lower = more familiar
    order = np.argsort(sppl.mean(axis=1), kind="stable")
    kept = set(order[: settings.keep_top].tolist())
    for j in order[settings.keep_top :]:
        _, low, _ = paired_difference(sppl[j], sppl[order[0]], n_bootstrap=settings.n_bootstrap, seed=settings.seed)
        if low <= 0:  # the screen cannot say it is behind
            kept.add(int(j))
    proxy = proxy_accuracy(bench, case, block)
    shortlisted = np.array([j in kept for j in range(len(proxy))])
    # the shortlist above everything else: proxy accuracy among it, minus SPPL below it
    return np.where(shortlisted, proxy - proxy.min() + 1.0, -sppl.mean(axis=1) - sppl.mean(axis=1).max())


def adaptive_shortlist_share(bench: PaperBench, case: PaperCase, block: Block) -> float:
    """The share of the case's strategies that ``adaptive_proxy`` sends to the proxy (its cost, relative to the proxy on all)."""
    preference = adaptive_proxy(bench, case, block)
    return float((preference > 0).mean())


def oracle(bench: PaperBench, case: PaperCase, block: Block) -> np.ndarray:
    return case.accuracies()


def uniform(bench: PaperBench, case: PaperCase, block: Block) -> np.ndarray:
    return np.zeros(len(case.evaluated_strategies))


def sppl_k_consensus(bench: PaperBench, case: PaperCase, block: Block) -> np.ndarray:
    keys = [ScoreKey("SPPL", f"k{k}", SOURCE) for k in range(1, 6)]
    return mean_rank([-block_scores(bench, case, key, block) for key in keys])


def sppl_ppl_consensus(bench: PaperBench, case: PaperCase, block: Block) -> np.ndarray:
    return mean_rank([-block_scores(bench, case, SPPL_K2, block), -block_scores(bench, case, ScoreKey("perplexity"), block)])


def all_metrics_consensus(bench: PaperBench, case: PaperCase, block: Block) -> np.ndarray:
    return mean_rank([sign * block_scores(bench, case, key, block) for key, sign in PAPER_METRICS])


def per_item_rank(sppl: np.ndarray) -> np.ndarray:
    """Mean over items of each strategy's SPPL rank within the item (1 = most familiar)."""
    return rankdata(sppl, axis=0, method="average").mean(axis=1)


# (score key, +1 if higher is better) of the five metrics the paper compares.
PAPER_METRICS = (
    (SPPL_K2, -1.0),
    (ScoreKey("perplexity", "-", SOURCE), -1.0),
    (ScoreKey("IFD", "-", SOURCE), -1.0),
    (ScoreKey("skywork", "-", SOURCE), 1.0),
    (ScoreKey("CAR", "-", SOURCE), 1.0),
)


# ---------------------------------------------------------------------------------------------
# A fitted selector


@dataclass(frozen=True)
class MetricRidge:
    """Ridge regression of the within-case z-scored accuracy on the within-case z-scored
    signed paper metrics (SPPL k=2, PPL, IFD, reward), rows weighted by the case's sigma.
    alpha is fixed a priori (not tuned). No intercept: both sides are centred per case."""

    name: str = "ridge on 4 metrics (LOTO)"
    kind: str = "new"
    description: str = (
        "linear blend of within-case z-scores of -log SPPL k=2, -log PPL, -IFD and reward; "
        "weights fitted by sigma-weighted ridge (alpha=1) on the other tasks only"
    )
    ranks: bool = True
    alpha: float = 1.0
    blocks: tuple[Block, ...] = MAIN_BLOCKS

    FEATURES = (
        (SPPL_K2, lambda v: -np.log(v)),
        (ScoreKey("perplexity", "-", SOURCE), lambda v: -np.log(v)),
        (ScoreKey("IFD", "-", SOURCE), lambda v: -v),
        (ScoreKey("skywork", "-", SOURCE), lambda v: v),
    )

    def features(self, bench: PaperBench, case: PaperCase, block: Block) -> np.ndarray:
        """Shape (n_strategies, n_features), each column z-scored within the case."""
        columns = [transform(block_scores(bench, case, key, block)) for key, transform in self.FEATURES]
        return np.nan_to_num(zscore(np.array(columns).T, axis=0))  # a constant column -> 0

    def fit(self, bench: PaperBench, cases: Sequence[PaperCase]) -> tuple[Selector, np.ndarray]:
        """Fit on `cases` (never the scored task); returns the selector and its weights.

        A case whose features are missing, or that cannot judge, is left out of the fit; the
        track reports it as missing for this selector anyway (it cannot be scored either).
        MissingData if no case is left."""
        X, y, w = [], [], []
        for case in cases:
            try:
                check_judgeable(case)
                features = [self.features(bench, case, block) for block in self.blocks]
            except MissingData:
                continue
            target = zscore(case.accuracies())
            X += features
            y += [target] * len(features)
            w += [np.full(len(target), case.sigma_seed0)] * len(features)
        if not X:
            raise MissingData(f"none of the {len(cases)} training cases has all {len(self.FEATURES)} metrics")
        X, y, w = np.vstack(X), np.concatenate(y), np.concatenate(w)
        weights = np.linalg.solve(X.T @ (w[:, None] * X) + self.alpha * np.eye(X.shape[1]), X.T @ (w * y))
        selector = Selector(
            self.name, self.kind, self.description, lambda bench, case, block: self.features(bench, case, block) @ weights
        )
        return selector, weights


# ---------------------------------------------------------------------------------------------
# The judged set


def paper_track_selectors() -> tuple[list[Selector], list[MetricRidge]]:
    """(plain selectors, fitted selectors), in report order."""
    sppl = "mean over the block of per-example SPPL"
    selectors = [
        Selector("upper bound (oracle)", "reference", "picks by the true accuracy (not a selector)", oracle),
        block_metric(REFERENCE_SELECTOR, SPPL_K2, False, "paper", f"{sppl}, k=2 self-exemplars (the published setting)"),
        block_metric("SPPL k=3", ScoreKey("SPPL", "k3", SOURCE), False, "paper", f"{sppl}, k=3"),
        block_metric("perplexity", ScoreKey("perplexity", "-", SOURCE), False, "paper", "mean PPL of the response given the question"),
        block_metric("IFD", ScoreKey("IFD", "-", SOURCE), False, "paper", "mean L(y|x)/L(y)"),
        block_metric("reward (Skywork)", ScoreKey("skywork", "-", SOURCE), True, "paper", "mean Skywork reward"),
        block_metric("CAR", ScoreKey("CAR", "-", SOURCE), True, "paper", "reward / (1 + 3 mean loss)"),
        Selector("train-on-100 proxy", "paper", "test accuracy after training on 100 examples (lr 2e-4, 40 epochs, seed 0)", proxy_accuracy),
        Selector("adaptive: SPPL shortlist, then the proxy", "new",
                 "SPPL k=2's top 3 plus those its paired interval cannot separate from its leader, ordered by the "
                 "train-on-100 proxy (issue 24's pre-registered shortlist; one proxy run per shortlisted strategy)", adaptive_proxy),
        *[fixed(s) for s in FIXED_STRATEGIES],
        Selector("random (expected)", "baseline", "uniformly random ranking: exact expected values", uniform),
        Selector("length: shorter first", "baseline", "mean response words over the block, fewer preferred",
                 lambda bench, case, block: -response_words(bench, case, block)),
        Selector("length: longer first", "baseline", "mean response words over the block, more preferred",
                 lambda bench, case, block: response_words(bench, case, block)),
        per_example_aggregate("SPPL median", lambda x: np.median(x, axis=1), "median of per-example SPPL k=2"),
        per_example_aggregate("SPPL trimmed mean", lambda x: trim_mean(x, TRIM, axis=1),
                              "mean of per-example SPPL k=2 without the 10% highest and lowest"),
        per_example_aggregate("SPPL geometric mean", lambda x: np.log(x).mean(axis=1),
                              "mean over items of log SPPL k=2 (each item's mean token NLL)"),
        per_example_aggregate("SPPL per-item rank", per_item_rank,
                              "rank strategies by SPPL k=2 within each item, average the ranks (paired by item)"),
        Selector("SPPL k=1..5 rank consensus", "new", "mean rank of the block-mean SPPL with k = 1..5", sppl_k_consensus),
        Selector("SPPL+PPL rank consensus", "new", "mean rank of SPPL k=2 and perplexity", sppl_ppl_consensus),
        Selector("5-metric rank consensus", "new", "mean rank of SPPL k=2, PPL, IFD, reward and CAR", all_metrics_consensus),
    ]
    return selectors, [MetricRidge()]
