"""The paper track: reproduce the paper's tables, judge every selector on the paper's cases,
and measure selection quality against sample size.

Ground truth is the released fine-tuning accuracy (mean over seeds 0-2) of each strategy on
the bundle's main cases (in the shared bundle: 36 = 12 tasks x 3 target models). Each selector
is scored per case and per 50-item block (ids 0-50, 50-100, 100-150), the three blocks are
averaged per case, and cases are summarized with bootstrap intervals over cases
(`selection.quality`). Fitted selectors are scored leave-one-task-out.

Any bundle of the paper-bench format works: the reproduction runs only for the benchmarks
whose reference tables were computed on exactly the bundle's cases (otherwise it is recorded
as {"skipped": reason}); what lacks data (a selector on a case, a fit with one task, a
bootstrap over fewer than 2 cases, the curve without per-example SPPL) is reported as missing
or "not computed: reason", never dropped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata, trim_mean

from stylefit.bench.paper.data import MAIN_BLOCKS, MODELS, SEEDS, PaperBench, PaperCase, load_paper_bench
from stylefit.bench.paper.report import render_markdown
from stylefit.selection import quality as sq
from stylefit.bench.paper.selectors import (
    REFERENCE_SELECTOR,
    SPPL_K2,
    TRIM,
    MetricRidge,
    MissingData,
    Selector,
    check_judgeable,
    paper_track_selectors,
    per_example_sppl,
)
from stylefit.bench.paper.tables import (
    BENCHMARKS,
    ReproductionReport,
    compare_with_published_planbench,
    compare_with_reference,
    numpy_breaks_ties_like_authors,
    recompute_tables,
    reference_coverage,
)
from stylefit.data.jsonl import write_atomic

BENCHMARK = "main17"
SAMPLE_SIZES = (10, 30, 50, 100, 300)
N_DRAWS = 200
CURVE_SEED = 0
# The paper's two headline figures, on the two subsets the issue asks about.
HEADLINE = (("all", "weighted_spearman"), ("all", "top1_accuracy_points"),
            ("sigma_gt_4", "weighted_spearman"), ("sigma_gt_4", "top1_accuracy_points"))
PAPER_SUBSET_NAMES = {"all": "all", "std_gt_2pct": "sigma_gt_2", "std_gt_4pct": "sigma_gt_4"}
SIGN_FIELD = {"weighted_spearman": "spearman", "top1_accuracy_points": "top1_accuracy"}
MIN_TASKS_TO_FIT = 2  # leave-one-task-out needs another task to fit on
MIN_CASES_TO_BOOTSTRAP = 2


@dataclass
class SelectorRecord:
    """Per-case outcomes of one selector (block-averaged), and the cases it could not score."""

    name: str
    kind: str
    description: str
    ranks: bool
    fitted: bool  # True: scored leave-one-task-out
    outcomes: dict[str, sq.CaseOutcome] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # case_id -> reason


# ---------------------------------------------------------------------------------------------
# Judging


def score_case(bench: PaperBench, case: PaperCase, selector: Selector) -> sq.CaseOutcome:
    """Outcome of one selector on one case, averaged over the three 50-item blocks."""
    check_judgeable(case)
    accuracy = case.accuracies()
    return sq.mean_outcome(
        [sq.evaluate(selector.prefer(bench, case, block), accuracy, ranks=selector.ranks) for block in MAIN_BLOCKS]
    )


def judge(
    bench: PaperBench, cases: Sequence[PaperCase], selectors: Sequence[Selector], fitted: Sequence[MetricRidge]
) -> list[SelectorRecord]:
    """Score every selector on every case; a fitted one is refitted for each task on the
    cases of the other tasks only (leave-one-task-out)."""
    records = []
    for selector in selectors:
        record = SelectorRecord(selector.name, selector.kind, selector.description, selector.ranks, fitted=False)
        for case in cases:
            _score_into(record, bench, case, selector)
        records.append(record)
    for model in fitted:
        record = SelectorRecord(model.name, model.kind, model.description, model.ranks, fitted=True)
        _judge_leave_one_task_out(record, bench, cases, model)
        order = {c.case_id: i for i, c in enumerate(cases)}
        record.outcomes = dict(sorted(record.outcomes.items(), key=lambda kv: order[kv[0]]))
        record.missing = dict(sorted(record.missing.items(), key=lambda kv: order[kv[0]]))
        records.append(record)
    return records


def _judge_leave_one_task_out(
    record: SelectorRecord, bench: PaperBench, cases: Sequence[PaperCase], model: MetricRidge
) -> None:
    tasks = sorted({c.task for c in cases})
    if len(tasks) < MIN_TASKS_TO_FIT:
        reason = f"not computed: leave-one-task-out needs cases of >= {MIN_TASKS_TO_FIT} tasks, the bundle has {len(tasks)}"
        record.missing.update({c.case_id: reason for c in cases})
        return
    for task in tasks:
        held_out = [c for c in cases if c.task == task]
        try:
            selector, _ = model.fit(bench, [c for c in cases if c.task != task])
        except MissingData as e:
            record.missing.update({c.case_id: f"not computed: fit without {task}: {e}" for c in held_out})
            continue
        for case in held_out:
            _score_into(record, bench, case, selector)


def _score_into(record: SelectorRecord, bench: PaperBench, case: PaperCase, selector: Selector) -> None:
    try:
        record.outcomes[case.case_id] = score_case(bench, case, selector)
    except MissingData as e:
        record.missing[case.case_id] = str(e)


def subset_cases(cases: Sequence[PaperCase], subset: str) -> list[PaperCase]:
    return [c for c in cases if sq.in_subset(c.sigma_seed0, subset)]


def summarize_records(cases: Sequence[PaperCase], records: Sequence[SelectorRecord], **bootstrap) -> dict:
    """Per subset: each selector on the cases it covers, and its paired difference from the
    paper's SPPL on the cases both cover."""
    reference = next(r for r in records if r.name == REFERENCE_SELECTOR)
    summary = {}
    for subset in sq.SUBSETS:
        chosen = subset_cases(cases, subset)
        rows = {}
        for record in records:
            covered = [c for c in chosen if c.case_id in record.outcomes]
            common = [c for c in covered if c.case_id in reference.outcomes]
            outcomes = [record.outcomes[c.case_id] for c in covered]
            diffs = [sq.difference(record.outcomes[c.case_id], reference.outcomes[c.case_id]) for c in common]
            signs = {"top1_accuracy": sq.win_tie_loss([d.top1_accuracy for d in diffs])}
            if record.ranks:
                signs["spearman"] = sq.win_tie_loss([d.spearman for d in diffs])
            rows[record.name] = {
                "n_cases": len(covered),
                "figures": sq.summarize(outcomes, [c.sigma_seed0 for c in covered], **bootstrap),
                "top1_accuracy_points_by_model": _by_model(covered, outcomes),
                "vs_reference": {
                    "n_cases": len(common),
                    "figures": sq.summarize(diffs, [c.sigma_seed0 for c in common], **bootstrap),
                    "per_case_signs": signs,
                },
            }
        summary[subset] = {"n_cases": len(chosen), "not_computed": _subset_limit(len(chosen)), "selectors": rows}
    return summary


def _by_model(cases: Sequence[PaperCase], outcomes: Sequence[sq.CaseOutcome]) -> dict[str, float | None]:
    """Mean top-1 accuracy (points) per target model; None for a model without a case."""
    by_model = {}
    for m in MODELS:
        top1 = [o.top1_accuracy for c, o in zip(cases, outcomes) if c.model == m]
        by_model[m] = 100 * float(np.mean(top1)) if top1 else None
    return by_model


def _subset_limit(n_cases: int) -> str | None:
    """What cannot be computed on a subset this small (None: everything can)."""
    if n_cases == 0:
        return "not computed: no case in this subset"
    if n_cases < MIN_CASES_TO_BOOTSTRAP:
        return f"intervals not computed: {n_cases} case (a bootstrap over cases needs >= {MIN_CASES_TO_BOOTSTRAP})"
    return None


def headline(records: Sequence[SelectorRecord], summary: dict) -> list[dict]:
    """For every new selector: its gap to the paper's SPPL on the four headline figures,
    how many it beats (point estimate > 0) and how many with an interval above 0."""
    rows = []
    for record in records:
        if record.kind != "new":
            continue
        versus = {subset: summary[subset]["selectors"][record.name]["vs_reference"] for subset, _ in HEADLINE}
        gaps = {f"{subset}:{figure}": versus[subset]["figures"][figure] for subset, figure in HEADLINE}
        signs = {
            f"{subset}:{figure}": versus[subset]["per_case_signs"][SIGN_FIELD[figure]] for subset, figure in HEADLINE
        }
        rows.append(
            {
                "selector": record.name,
                "fitted_leave_one_task_out": record.fitted,
                "gaps": gaps,
                "per_case_signs": signs,
                "n_beaten": sum(g.estimate > 0 for g in gaps.values()),
                "n_beaten_beyond_noise": sum(g.low > 0 for g in gaps.values()),
            }
        )
    return sorted(rows, key=lambda r: (-r["n_beaten"], -r["n_beaten_beyond_noise"]))


# ---------------------------------------------------------------------------------------------
# Sample-size curve

CURVE_AGGREGATES = ("SPPL mean (paper)", "SPPL median", "SPPL trimmed mean", "SPPL per-item rank")


def _aggregate(sppl: np.ndarray, item_ranks: np.ndarray, items: np.ndarray) -> dict[str, np.ndarray]:
    """Scores (lower = preferred) of each strategy for each draw: shape (draws, strategies).
    sppl and item_ranks: (strategies, all items); items: (draws, n) item indices."""
    sample = sppl[:, items]
    return {
        "SPPL mean (paper)": sample.mean(axis=-1).T,
        "SPPL median": np.median(sample, axis=-1).T,
        "SPPL trimmed mean": trim_mean(sample, TRIM, axis=-1).T,
        "SPPL per-item rank": item_ranks[:, items].mean(axis=-1).T,
    }


def sample_size_curve(
    bench: PaperBench,
    cases: Sequence[PaperCase],
    sample_sizes: Sequence[int] = SAMPLE_SIZES,
    n_draws: int = N_DRAWS,
    draw_seed: int = CURVE_SEED,
    **bootstrap,
) -> dict:
    """Selection quality when each strategy is scored on N random items (per-example SPPL k=2).

    For each case and N, `n_draws` random sets of N of the released items (ids 0-299) are drawn
    without replacement, the same items for every strategy (as in practice); N = all items is
    a single draw. Per case, figures are averaged over draws (the expected quality of one
    sample of size N); intervals are the bootstrap over cases of that expectation.
    `agreement_with_full` is the probability that the top pick at N equals the pick made
    from all items. `draw_spread` is the 5th-95th percentile over draws of the figure
    computed with one draw per case: the luck a single study of size N is exposed to.
    """
    rng = np.random.default_rng(draw_seed)
    sppl = {c.case_id: per_example_sppl(bench, c, SPPL_K2, None) for c in cases}
    lengths = {x.shape[1] for x in sppl.values()}
    if len(lengths) != 1:
        raise MissingData(f"per-example SPPL has different lengths across cases: {sorted(lengths)}")
    (n_items,) = lengths
    item_ranks = {k: rankdata(x, axis=0, method="average") for k, x in sppl.items()}  # rank within item
    full_pick = {
        k: {name: np.argmin(s[0]) for name, s in _aggregate(x, item_ranks[k], np.arange(n_items)[None]).items()}
        for k, x in sppl.items()
    }
    curve = {}
    for n in sample_sizes:
        if n > n_items:
            raise MissingData(f"sample size {n} exceeds the {n_items} released items")
        draws = 1 if n == n_items else n_draws
        per_draw = {name: {} for name in CURVE_AGGREGATES}  # name -> case -> batch outcome
        agreement = {name: {} for name in CURVE_AGGREGATES}  # name -> case -> P(same pick)
        for case in cases:
            items = np.array([rng.choice(n_items, size=n, replace=False) for _ in range(draws)])
            for name, scores in _aggregate(sppl[case.case_id], item_ranks[case.case_id], items).items():
                per_draw[name][case.case_id] = sq.evaluate(-scores, case.accuracies())
                agreement[name][case.case_id] = float(np.mean(scores.argmin(axis=1) == full_pick[case.case_id][name]))
        curve[n] = {"n_draws": draws, "subsets": {}}
        for subset in sq.SUBSETS:
            chosen = subset_cases(cases, subset)
            sigma = np.array([c.sigma_seed0 for c in chosen])
            rows = {}
            for name in CURVE_AGGREGATES if chosen else ():  # an empty subset has no figure
                batch = [per_draw[name][c.case_id] for c in chosen]
                rho = np.array([np.atleast_1d(o.spearman) for o in batch])  # (cases, draws)
                top1 = np.array([np.atleast_1d(o.top1_accuracy) for o in batch])
                rows[name] = {
                    "figures": sq.summarize([sq.mean_outcome([o]) for o in batch], sigma, **bootstrap),
                    "agreement_with_full": sq.weighted_means(
                        np.array([agreement[name][c.case_id] for c in chosen]), np.ones(len(chosen)), **bootstrap
                    )[0],
                    "draw_spread": {
                        "weighted_spearman": tuple(np.percentile(sigma @ rho / sigma.sum(), [5, 95])),
                        "top1_accuracy_points": tuple(100 * np.percentile(top1.mean(axis=0), [5, 95])),
                    },
                }
            curve[n]["subsets"][subset] = {"n_cases": len(chosen), "aggregates": rows}
    return curve


def curve_cases(bench: PaperBench, cases: Sequence[PaperCase]) -> tuple[list[PaperCase], dict[str, str]]:
    """The cases the curve can use (per-example SPPL k=2 of every evaluated strategy), and why
    each other case is left out."""
    usable, missing = [], {}
    for case in cases:
        try:
            check_judgeable(case)
            per_example_sppl(bench, case, SPPL_K2, None)
        except MissingData as e:
            missing[case.case_id] = str(e)
        else:
            usable.append(case)
    return usable, missing


def curve_or_reason(bench: PaperBench, cases: Sequence[PaperCase], **options) -> tuple[dict, dict[str, Any]]:
    """(curve, coverage): the curve on the cases that have per-example SPPL; coverage counts the
    cases left out and says why the curve is not computed at all (empty curve), if so."""
    usable, missing = curve_cases(bench, cases)
    coverage = {"n_cases": len(usable), "missing_cases": missing, "not_computed": None}
    if not usable:
        coverage["not_computed"] = f"not computed: no case has per-example SPPL k=2 ({len(missing)} cases left out)"
        return {}, coverage
    try:
        return sample_size_curve(bench, usable, **options), coverage
    except MissingData as e:
        coverage["not_computed"] = f"not computed: {e}"
        return {}, coverage


# ---------------------------------------------------------------------------------------------
# Reproduction


def reproduction(bench: PaperBench) -> dict[str, Any]:
    """Compare with reference_tables.json where its tables cover the bundle's cases; every part
    that cannot be compared is {"skipped": reason}."""
    coverage = {benchmark: reference_coverage(bench, benchmark) for benchmark in BENCHMARKS}
    return {
        "numpy_breaks_ties_like_authors": numpy_breaks_ties_like_authors(),
        "paper_formula_sppl": _paper_formula_sppl(bench, coverage[BENCHMARK]),
        "tables": {
            "reference_tables": _reference_tables(bench, coverage),
            "published_planbench": _published_planbench(bench, coverage["planbench6"]),
        },
    }


def _paper_formula_sppl(bench: PaperBench, skipped: str | None) -> dict[str, Any]:
    if skipped:
        return {"skipped": skipped}
    return {
        PAPER_SUBSET_NAMES[r["subset"]]: {"avg_acc_points": r["avg_acc"], "weighted_spearman": r["weighted_spearman"]}
        for r in recompute_tables(bench, "published_config", BENCHMARK)
        if r["row"] == "SPPL"
    }


def _reference_tables(bench: PaperBench, coverage: dict[str, str | None]) -> dict[str, Any]:
    covered = [b for b, why in coverage.items() if why is None]
    skipped = {b: why for b, why in coverage.items() if why is not None}
    if not covered:
        reasons = set(skipped.values())
        return {"skipped": reasons.pop() if len(reasons) == 1 else "; ".join(f"{b}: {w}" for b, w in skipped.items())}
    report = compare_with_reference(bench, benchmarks=covered)
    return {**_reproduction(report, "0.01 points / 0.001 rho"), "benchmarks": covered, "skipped_benchmarks": skipped}


def _published_planbench(bench: PaperBench, skipped: str | None) -> dict[str, Any]:
    if skipped:
        return {"skipped": skipped}
    if not bench.reference_tables.get("published_planbench"):
        return {"skipped": "reference_tables.json has no published PlanBench tables"}
    return _reproduction(compare_with_published_planbench(bench), "printed precision")


def reproduction_failures(results: dict[str, Any]) -> list[str]:
    """One line per reproduction that ran and did not match: table, count, first mismatch."""
    failures = []
    for name, rep in results["reproduction"]["tables"].items():
        if "skipped" in rep or rep["matches"]:
            continue
        first = rep["mismatches"][0]
        where = "/".join(str(first[k]) for k in ("config", "benchmark", "subset", "row", "column"))
        failures.append(
            f"{name}: {rep['n_mismatches']} of {rep['n_numbers_compared']} numbers differ (first: {where}: "
            f"reference {first['reference']}, recomputed {first['recomputed']})"
        )
    return failures


# ---------------------------------------------------------------------------------------------
# The whole track


def run_paper_track(
    data: str | Path | None = None,
    *,
    n_resamples: int = sq.N_RESAMPLES,
    bootstrap_seed: int = sq.BOOTSTRAP_SEED,
    n_draws: int = N_DRAWS,
    curve_seed: int = CURVE_SEED,
) -> dict[str, Any]:
    """Reproduce the reference tables, judge all selectors, and compute the sample-size curve.
    Returns a JSON-ready dict (deterministic for fixed seeds)."""
    bench = load_paper_bench(data)
    cases = bench.benchmark_cases(BENCHMARK)  # none: a StylefitError (nothing to judge)
    bootstrap = {"n_resamples": n_resamples, "seed": bootstrap_seed}
    selectors, fitted = paper_track_selectors()
    records = judge(bench, cases, selectors, fitted)
    summary = summarize_records(cases, records, **bootstrap)
    curve, curve_coverage = curve_or_reason(bench, cases, n_draws=n_draws, draw_seed=curve_seed, **bootstrap)
    n_strategies = [len(c.evaluated_strategies) for c in cases]
    return _jsonable(
        {
            "settings": {
                "benchmark": BENCHMARK,
                "n_cases": len(cases),
                "n_tasks": len({c.task for c in cases}),
                "models": [m for m in MODELS if any(c.model == m for c in cases)],
                "strategies_per_case": [min(n_strategies), max(n_strategies)],
                "absent_optional_files": list(bench.absent_files),
                "blocks": [list(b) for b in MAIN_BLOCKS],
                "accuracy_seeds": list(SEEDS),
                "bootstrap": {"over": "cases", "method": "percentile", "n_resamples": n_resamples,
                              "seed": bootstrap_seed, "confidence": sq.CONFIDENCE},
                "subsets": {k: (None if math.isinf(v) else v) for k, v in sq.SUBSETS.items()},
                "reference_selector": REFERENCE_SELECTOR,
                "sample_size_curve": {"sizes": list(SAMPLE_SIZES), "n_draws": n_draws, "seed": curve_seed,
                                      "score": "per-example SPPL k=2 (record_book_backup), ids 0-299",
                                      **curve_coverage},
            },
            "reproduction": reproduction(bench),
            "selectors": [
                {
                    "name": r.name,
                    "kind": r.kind,
                    "description": r.description,
                    "ranks": r.ranks,
                    "fitted_leave_one_task_out": r.fitted,
                    "n_cases": len(r.outcomes),
                    "missing_cases": r.missing,
                }
                for r in records
            ],
            "judging": summary,
            "headline": headline(records, summary),
            "sample_size_curve": curve,
        }
    )


def _reproduction(report: ReproductionReport, tolerance: str) -> dict[str, Any]:
    return {
        "matches": report.matches,
        "n_numbers_compared": report.n_compared,
        "n_mismatches": len(report.mismatches),
        "tolerance": tolerance,
        "max_abs_diff_accuracy_points": report.max_accuracy_diff_points,
        "max_abs_diff_rho": report.max_rho_diff,
        "mismatches": [asdict(m) for m in report.mismatches[:50]],
    }


def _jsonable(obj: Any) -> Any:
    """Intervals -> {estimate, low, high}; numpy scalars -> floats; NaN -> None."""
    if isinstance(obj, (sq.Interval, sq.WinTieLoss)):
        return {k: _jsonable(v) for k, v in asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if math.isnan(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def write_results(results: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write paper_track.json and paper_track.md atomically into out_dir."""
    out_dir = Path(out_dir)
    json_path, md_path = out_dir / "paper_track.json", out_dir / "paper_track.md"
    write_atomic(json_path, json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    write_atomic(md_path, render_markdown(results))
    return json_path, md_path
