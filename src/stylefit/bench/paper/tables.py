"""Exact recomputation of the paper's selection tables (reference_tables.json).

This follows the bundle README, "Recomputation method", step by step, including the authors'
tie handling and their Spearman formula 1 - 6 sum(d^2) / (n (n^2 - 1)) with metric ranks
1..n. That formula is not Spearman's rho under ties (scipy's tie-corrected rho differs), so
it is used here, for the reproduction only; every new figure of the paper track uses
`selection.quality`, which uses scipy.

Units: table accuracies are percent; rho is unitless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

from stylefit.bench.paper.data import MAIN_BLOCKS, MODELS, PaperBench, PaperCase, ScoreKey
from stylefit.core.errors import StylefitError

# Which released scores each reference configuration reads: (SPPL key, source of the others).
CONFIGS: dict[str, tuple[ScoreKey, str]] = {
    "published_config": (ScoreKey("SPPL", "k2", "record_book_backup"), "record_book_backup"),
    "backup_k3": (ScoreKey("SPPL", "k3", "record_book_backup"), "record_book_backup"),
    "current_record_book_k2": (ScoreKey("SPPL", "k2", "record_book"), "record_book"),
    "current_record_book_k3": (ScoreKey("SPPL", "k3", "record_book"), "record_book"),
}
BENCHMARKS = ("main17", "planbench6")
# metric row -> True where a higher score is better (reward-like).
METRIC_ROWS = {"skywork": True, "CAR": True, "IFD": False, "perplexity": False, "SPPL": False}
FIXED_STRATEGIES = (
    "step_by_step",
    "gpt4_style_in_context_examples",
    "openai_human_written_examples",
    "mini_gpt4",
    "gpt4",
    "claude",
)
# subset name -> sigma threshold (fraction); a case is in the subset if sigma > threshold.
PAPER_SUBSETS = {"all": -np.inf, "std_gt_2pct": 0.02, "std_gt_4pct": 0.04}
BENCHMARK_SUBSETS = {"main17": ("all", "std_gt_2pct", "std_gt_4pct"), "planbench6": ("all",)}
# The reference_tables.json key listing the case ids each benchmark's tables were computed on.
REFERENCE_CASE_LISTS = {"main17": "shared_cases_main17", "planbench6": "cases_planbench6"}


@dataclass(frozen=True)
class PaperSelection:
    """One metric's selection on one case and block, computed the authors' way."""

    ranking: tuple[str, ...]  # evaluated strategies, most preferred first
    top1_accuracy: float  # fraction
    upper_bound: float  # fraction
    spearman: float  # the authors' formula (see module docstring)


# A tie from the released records (llama_3_instruct/api_bank, CAR, block 100-150: strategies 0
# and 5 tie) and the order numpy's default argsort gave the authors.
_TIED_SCORES = (-0.644, -0.224, -1.25, 0.0596, -0.765, -0.644)
_AUTHORS_ORDER = (2, 4, 5, 0, 1, 3)


def numpy_breaks_ties_like_authors() -> bool:
    """True if this machine's default np.argsort orders tied scores as the authors' did.

    Metric scores rounded to 3 significant digits (CAR, IFD) tie in 14 of the 3240 released
    per-case selections. The published rho follows numpy's default, *unstable* argsort, which
    on x86-64 with AVX2 or AVX-512 is the x86-simd-sort network; a stable sort (as numpy's
    scalar fallback, e.g. on CPUs without AVX2 or on ARM) changes rho by up to 0.038.
    """
    return tuple(int(i) for i in np.argsort(np.array(_TIED_SCORES))) == _AUTHORS_ORDER


def authors_metric_order(case: PaperCase, scores: dict[str, float], higher_is_better: bool) -> tuple[str, ...]:
    """Step 3: argsort the scored strategies (in the authors' order) by score, reversed for
    reward-like metrics, then drop strategies without accuracy. Ties keep numpy's default
    argsort order, as in the authors' code (see `numpy_breaks_ties_like_authors`)."""
    scored = case.scored_strategies
    order = [scored[i] for i in np.argsort([scores[s] for s in scored])]
    if higher_is_better:
        order.reverse()
    return tuple(s for s in order if s in case.evaluated_strategies)


def authors_spearman(case: PaperCase, ranking: Sequence[str]) -> float:
    """Steps 4-5: ground-truth positions with average ties over the ranked strategies,
    metric rank j for the j-th strategy, rho = 1 - 6 sum d^2 / (n (n^2 - 1))."""
    n = len(ranking)
    truth_rank = rankdata([-case.quality[s] for s in ranking], method="average")
    d = truth_rank - np.arange(1, n + 1)
    return float(1 - 6 * np.sum(d**2) / (n * (n**2 - 1)))


def authors_selection(case: PaperCase, scores: dict[str, float], higher_is_better: bool) -> PaperSelection:
    ranking = authors_metric_order(case, scores, higher_is_better)
    return PaperSelection(
        ranking=ranking,
        top1_accuracy=case.quality[ranking[0]],
        upper_bound=max(case.quality[s] for s in ranking),
        spearman=authors_spearman(case, ranking),
    )


def calc_avg(values: Sequence[float | None]) -> float | None:
    """The authors' mean: values that are 0 or None are skipped."""
    kept = [v for v in values if v]
    return sum(kept) / len(kept) if kept else None


def _percent(value: float | None) -> float | None:
    return None if value is None else 100 * value


def _accuracy_columns(cases: Sequence[PaperCase], value_of) -> dict[str, float | None]:
    """Per-model means and the mean over all cases (not over models), in percent."""
    columns = {m: _percent(calc_avg([value_of(c) for c in cases if c.model == m])) for m in MODELS}
    columns["avg_acc"] = _percent(calc_avg([value_of(c) for c in cases]))
    return columns


def _metric_row(bench: PaperBench, cases: Sequence[PaperCase], key: ScoreKey, higher: bool) -> dict[str, Any]:
    """Steps 6-8 for one metric: per-block aggregates, then their plain average."""
    per_block = []
    for block in MAIN_BLOCKS:
        picks = {c.case_id: authors_selection(c, bench.block_score(c, key, block), higher) for c in cases}
        columns = _accuracy_columns(cases, lambda c: picks[c.case_id].top1_accuracy)
        sigma = np.array([c.sigma_seed0 for c in cases])
        rho = np.array([picks[c.case_id].spearman for c in cases])
        columns["weighted_spearman"] = float(np.sum(sigma * rho) / np.sum(sigma)) if cases else None
        per_block.append({"block": f"{block[0]}-{block[1]}", **columns})
    row = {name: _block_mean([b[name] for b in per_block]) for name in per_block[0] if name != "block"}
    return {**row, "per_block": per_block}


def _block_mean(values: Sequence[float | None]) -> float | None:
    """Step 8; None (an empty column: e.g. a model without a case in the subset) stays None."""
    return None if any(v is None for v in values) else float(np.mean(values))


def recompute_tables(bench: PaperBench, config: str, benchmark: str) -> list[dict[str, Any]]:
    """All rows of one reference table (same fields as reference_tables.json)."""
    sppl_key, source = CONFIGS[config]
    rows = []
    for subset in BENCHMARK_SUBSETS[benchmark]:
        cases = [c for c in bench.benchmark_cases(benchmark) if c.sigma_seed0 > PAPER_SUBSETS[subset]]
        head = {"subset": subset, "n_cases": len(cases)}
        upper = _accuracy_columns(cases, lambda c: max(c.quality[s] for s in c.evaluated_strategies))
        rows.append({**head, "row": "upper_bound", **upper})
        for metric, higher in METRIC_ROWS.items():
            key = sppl_key if metric == "SPPL" else ScoreKey(metric, "-", source)
            rows.append({**head, "row": metric, **_metric_row(bench, cases, key, higher)})
        for strategy in FIXED_STRATEGIES:
            fixed = _accuracy_columns(cases, lambda c: c.quality.get(strategy))
            rows.append({**head, "row": f"fixed:{strategy}", **fixed})
    return rows


@dataclass(frozen=True)
class Mismatch:
    config: str
    benchmark: str
    subset: str
    row: str
    column: str  # e.g. "avg_acc" or "per_block[1].weighted_spearman"
    reference: float | None
    recomputed: float | None


@dataclass(frozen=True)
class ReproductionReport:
    """How the recomputation compares with reference_tables.json."""

    n_compared: int
    mismatches: list[Mismatch]
    max_accuracy_diff_points: float
    max_rho_diff: float

    @property
    def matches(self) -> bool:
        return not self.mismatches


def _flatten(row: dict[str, Any]) -> dict[str, Any]:
    """Row -> {column: value}, per-block values as 'per_block[i].column'."""
    flat = {k: v for k, v in row.items() if k not in ("per_block", "subset", "row", "n_cases")}
    for i, block in enumerate(row.get("per_block", [])):
        flat.update({f"per_block[{i}].{k}": v for k, v in block.items() if k != "block"})
    return flat


def reference_coverage(bench: PaperBench, benchmark: str) -> str | None:
    """None if reference_tables.json's `benchmark` tables were computed on exactly the bundle's
    cases of that benchmark; otherwise why not (then comparing them would be meaningless).

    The file lists the case ids of each benchmark's tables (REFERENCE_CASE_LISTS); without that
    list nothing identifies the cases (equal counts do not), so coverage is not assumed."""
    if bench.reference_tables is None:
        return "reference_tables.json is not in the bundle"
    ours = {c.case_id for c in bench.cases if c.benchmark == benchmark}
    if not ours:
        return f"the bundle has no {benchmark} case"
    key = REFERENCE_CASE_LISTS[benchmark]
    listed = bench.reference_tables.get(key)
    if listed is None:
        return f"reference_tables.json does not list the cases of its {benchmark} tables (no '{key}')"
    if not isinstance(listed, list) or not all(isinstance(c, str) for c in listed):
        raise StylefitError(f"reference_tables.json: '{key}' is not a list of case ids")
    theirs = set(listed)
    if theirs == ours:
        return None
    only_theirs, only_ours = sorted(theirs - ours), sorted(ours - theirs)
    example = (only_theirs or only_ours)[0]
    return (
        f"reference_tables.json's {benchmark} tables cover {len(theirs)} cases, the bundle has {len(ours)} "
        f"({len(only_theirs)} only in the tables, {len(only_ours)} only in the bundle, e.g. {example})"
    )


def compare_with_reference(
    bench: PaperBench,
    accuracy_tol_points: float = 0.01,
    rho_tol: float = 0.001,
    benchmarks: Sequence[str] = BENCHMARKS,
) -> ReproductionReport:
    """Recompute every table of reference_tables.json['recomputed_shared_cases'] for
    `benchmarks` and compare every number (accuracies in points, rho unitless). Rows or columns
    missing on either side count as mismatches. Only meaningful for benchmarks the tables cover
    (`reference_coverage`)."""
    if bench.reference_tables is None:
        raise StylefitError("reference_tables.json is not in the bundle")
    reference = bench.reference_tables["recomputed_shared_cases"]
    mismatches, compared, max_acc, max_rho = [], 0, 0.0, 0.0
    for config in CONFIGS:
        for benchmark in benchmarks:
            try:
                ref_rows = reference[config][benchmark]["rows"]
            except (KeyError, TypeError):
                raise StylefitError(f"reference_tables.json: no rows for {config}/{benchmark}") from None
            ours = {(r["subset"], r["row"]): r for r in recompute_tables(bench, config, benchmark)}
            theirs = {(r["subset"], r["row"]): r for r in ref_rows}
            for index in sorted(set(ours) | set(theirs)):
                if index not in ours or index not in theirs or ours[index]["n_cases"] != theirs[index]["n_cases"]:
                    mismatches.append(Mismatch(config, benchmark, *index, "row/n_cases", None, None))
                    continue
                a, b = _flatten(theirs[index]), _flatten(ours[index])
                for column in sorted(set(a) | set(b)):
                    compared += 1
                    ref_value, our_value = a.get(column), b.get(column)
                    is_rho = column.endswith("weighted_spearman")
                    if ref_value is None or our_value is None:
                        ok = ref_value is None and our_value is None
                    else:
                        diff = abs(ref_value - our_value)
                        if is_rho:
                            max_rho = max(max_rho, diff)
                        else:
                            max_acc = max(max_acc, diff)
                        ok = diff <= (rho_tol if is_rho else accuracy_tol_points)
                    if not ok:
                        mismatches.append(Mismatch(config, benchmark, *index, column, ref_value, our_value))
    return ReproductionReport(compared, mismatches, max_acc, max_rho)


def _published_value(ours: dict[str, dict[str, Any]], row: str, column: str) -> float | None:
    """Our value for a row of a published table, including its difference rows
    ('SPPL_minus_perplexity', 'SPPL_minus_claude', 'SPPL_minus_mean_of_fixed')."""
    if "_minus_" not in row:
        return ours[row].get(column)
    left, right = row.split("_minus_")
    if right == "mean_of_fixed":
        parts = [ours[f"fixed:{s}"][column] for s in FIXED_STRATEGIES]
        subtrahend = None if None in parts else float(np.mean(parts))
    else:
        subtrahend = ours[right if right in ours else f"fixed:{right}"][column]
    if ours[left][column] is None or subtrahend is None:
        return None  # an empty column (no case): compared as a mismatch
    return ours[left][column] - subtrahend


def compare_with_published_planbench(bench: PaperBench) -> ReproductionReport:
    """Recompute the two *published* PlanBench tables (no held-out case, so these are the
    paper's own numbers) and check that every printed number is a correct rounding of ours:
    2 decimals for accuracy points, 3 for rho."""
    if bench.reference_tables is None:
        raise StylefitError("reference_tables.json is not in the bundle")
    ours = {r["row"]: r for r in recompute_tables(bench, "published_config", "planbench6")}
    mismatches, compared, max_acc, max_rho = [], 0, 0.0, 0.0
    for table_name, table in bench.reference_tables.get("published_planbench", {}).items():
        for published in table["rows"]:
            for column in (*MODELS, "avg_acc", "weighted_spearman"):
                if published.get(column) is None:
                    continue
                compared += 1
                is_rho = column == "weighted_spearman"
                value = _published_value(ours, published["row"], column)
                if value is None:
                    mismatches.append(
                        Mismatch("published", table_name, published["subset"], published["row"], column, published[column], None)
                    )
                    continue
                diff = abs(value - published[column])
                if is_rho:
                    max_rho = max(max_rho, diff)
                else:
                    max_acc = max(max_acc, diff)
                if diff > (0.0005 if is_rho else 0.005) + 1e-9:
                    mismatches.append(
                        Mismatch("published", table_name, published["subset"], published["row"], column, published[column], value)
                    )
    if not compared:
        raise StylefitError("reference_tables.json: no published PlanBench rows to compare")
    return ReproductionReport(compared, mismatches, max_acc, max_rho)
