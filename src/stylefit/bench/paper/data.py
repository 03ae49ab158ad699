"""Loader for the paper-bench bundle (the released records of arXiv 2502.11779).

The bundle is read in place (never copied into the repo) from a folder given on the command
line, $STYLEFIT_PAPER_BENCH, or ../shared/paper-bench. Every file is validated on load: a
missing required file, a malformed JSON line, a missing field or an inconsistent record is a
StylefitError naming the file (and line). Optional files may be absent: the bundle records
which, and what needs them reports the cases it cannot score (see `OPTIONAL_FILES`).

Units: accuracies are fractions in [0, 1] (rounded to 3 decimals by the authors' loader);
SPPL/perplexity are perplexities (>= 1); response lengths are whitespace-separated words.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stylefit.core.errors import StylefitError
from stylefit.data.jsonl import read_jsonl
from stylefit.selection.quality import accuracy_spread

PAPER_BENCH_ENV = "STYLEFIT_PAPER_BENCH"
DEFAULT_PAPER_BENCH = Path("..") / "shared" / "paper-bench"

# The three target models, in the column order of the paper's tables.
MODELS = ("mistral", "llama_3_instruct", "qwen")
# The 50-item blocks of the main tables, half-open id ranges.
MAIN_BLOCKS = ((0, 50), (50, 100), (100, 150))
SEEDS = (0, 1, 2)
# The paper's "train-then-test on 100 examples" baseline (ground_truth.jsonl `setting`).
PROXY_SETTING = "proxy_n100_lr2e-4_ep40"
# Strategies that are trained but never ranked, and excluded from sigma.
LABEL_ONLY = "gold_label"
# Without these there is nothing to judge: the ground truth and the paper's metric scores.
CASES_FILE = "cases.jsonl"
BLOCK_SCORES_FILE = "metric_scores_blocks.jsonl.gz"
# Each of these only feeds some selectors, the sample-size curve or the reproduction.
REFERENCE_FILE = "reference_tables.json"
SPPL_PER_EXAMPLE_FILE = "sppl_per_example.jsonl.gz"
SKYWORK_PER_EXAMPLE_FILE = "skywork_per_example.jsonl.gz"
GROUND_TRUTH_FILE = "ground_truth.jsonl"
CANDIDATES_FILE = "candidates.jsonl.gz"
OPTIONAL_FILES = (REFERENCE_FILE, SPPL_PER_EXAMPLE_FILE, SKYWORK_PER_EXAMPLE_FILE, GROUND_TRUTH_FILE, CANDIDATES_FILE)


def resolve_bundle_dir(path: str | Path | None = None) -> Path:
    """The bundle folder: `path` if given, else $STYLEFIT_PAPER_BENCH, else ../shared/paper-bench
    (relative to the current directory)."""
    if path is None:
        path = os.environ.get(PAPER_BENCH_ENV) or DEFAULT_PAPER_BENCH
    path = Path(path).expanduser()
    if not path.is_dir():
        raise StylefitError(
            f"{path}: paper-bench folder not found (pass --data PATH or set ${PAPER_BENCH_ENV})"
        )
    return path.resolve()


# ---------------------------------------------------------------------------------------------
# Reading records


def read_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ("file:line", object) for every line of a .jsonl or .jsonl.gz file."""
    for lineno, obj in read_jsonl(path):
        yield f"{path}:{lineno}", obj


def read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise StylefitError(f"{path}: file not found")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise StylefitError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise StylefitError(f"{path}: expected a JSON object at top level")
    return obj


def need(obj: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    """obj[name], checked to be of `kind` (bool is never accepted as a number)."""
    if name not in obj:
        raise StylefitError(f"{where}: missing field '{name}'")
    value = obj[name]
    numeric = kind in (int, float) or (isinstance(kind, tuple) and set(kind) <= {int, float})
    if not isinstance(value, kind) or (numeric and isinstance(value, bool)):
        raise StylefitError(f"{where}: field '{name}' has type {type(value).__name__}")
    return value


def finite_values(obj: dict[str, Any], name: str, where: str, n: int | None = None) -> np.ndarray:
    """A list field of finite numbers as a float array (optionally of length n)."""
    values = need(obj, name, list, where)
    if n is not None and len(values) != n:
        raise StylefitError(f"{where}: field '{name}' has {len(values)} values, expected {n}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise StylefitError(f"{where}: field '{name}' holds a non-number")
    array = np.asarray(values, dtype=float)
    if not np.isfinite(array).all():
        raise StylefitError(f"{where}: field '{name}' holds a non-finite value")
    return array


# ---------------------------------------------------------------------------------------------
# Cases


@dataclass(frozen=True)
class PaperCase:
    """One (target model, task) case with its fine-tuning ground truth.

    `seed_accuracy[s]` holds the test accuracy (fraction) of strategy s for seeds 0, 1, 2,
    None where the run is missing. `quality[s]` is the authors' ground truth: the mean of the
    present, > 0 seed values (None if there is none).
    """

    case_id: str
    model: str
    task: str
    benchmark: str
    scored_strategies: tuple[str, ...]  # ranked by the metrics, in the authors' order
    evaluated_strategies: tuple[str, ...]  # scored and with an accuracy: these enter rho/top-1
    trained_strategies: tuple[str, ...]  # everything the authors' loader reads, in its order
    seed_accuracy: dict[str, tuple[float | None, ...]]
    quality: dict[str, float | None]
    sigma_seed0: float  # sample std (ddof=1) of seed-0 accuracies, label-only strategy excluded

    def accuracies(self, strategies: tuple[str, ...] | None = None) -> np.ndarray:
        """Mean accuracies (fractions) of `strategies` (default: the evaluated ones)."""
        return np.array([self.quality[s] for s in (strategies or self.evaluated_strategies)])


def authors_quality(seeds: tuple[float | None, ...]) -> float | None:
    """Mean over the seeds that exist and are > 0 (the authors' `calc_avg`); plain Python
    arithmetic so that ties between strategies are exactly the authors' ties."""
    present = [a for a in seeds if a is not None and a > 0]
    return sum(present) / len(present) if present else None


def load_cases(path: Path) -> list[PaperCase]:
    """cases.jsonl; the derived fields (acc_mean3, sigma_seed0) are recomputed and checked."""
    cases, seen = [], set()
    for where, obj in read_records(path):
        case_id = need(obj, "case_id", str, where)
        if case_id in seen:
            raise StylefitError(f"{where}: duplicate case_id {case_id!r}")
        seen.add(case_id)
        trained = tuple(need(obj, "trained_strategies", list, where))
        per_seed = [need(obj, f"acc_seed{seed}", dict, where) for seed in SEEDS]
        seed_accuracy = {}
        for s in trained:
            values = tuple(table.get(s) for table in per_seed)
            if not all(v is None or (isinstance(v, (int, float)) and 0 <= v <= 1) for v in values):
                raise StylefitError(f"{where}: accuracy of {s!r} is not a fraction in [0, 1]")
            seed_accuracy[s] = values
        quality = {s: authors_quality(v) for s, v in seed_accuracy.items()}
        stored_mean = need(obj, "acc_mean3", dict, where)
        for s, q in quality.items():
            if q != stored_mean.get(s):
                raise StylefitError(f"{where}: acc_mean3[{s!r}]={stored_mean.get(s)} but the seeds give {q}")
        seed0 = [seed_accuracy[s][0] for s in trained if s != LABEL_ONLY]
        if any(a is None for a in seed0) or len(seed0) < 2:
            raise StylefitError(f"{where}: sigma needs seed-0 accuracies of every trained strategy")
        sigma = accuracy_spread(seed0)
        if not math.isclose(sigma, need(obj, "sigma_seed0", float, where), rel_tol=1e-9, abs_tol=1e-12):
            raise StylefitError(f"{where}: sigma_seed0 disagrees with the seed-0 accuracies")
        evaluated = tuple(need(obj, "evaluated_strategies", list, where))
        scored = tuple(need(obj, "scored_strategies", list, where))
        if not set(evaluated) <= set(scored) or any(quality.get(s) is None for s in evaluated):
            raise StylefitError(f"{where}: an evaluated strategy is unscored or has no accuracy")
        model = need(obj, "model", str, where)
        if model not in MODELS:
            raise StylefitError(f"{where}: unknown model {model!r}")
        cases.append(
            PaperCase(
                case_id=case_id,
                model=model,
                task=need(obj, "task", str, where),
                benchmark=need(obj, "benchmark", str, where),
                scored_strategies=scored,
                evaluated_strategies=evaluated,
                trained_strategies=trained,
                seed_accuracy=seed_accuracy,
                quality=quality,
                sigma_seed0=sigma,
            )
        )
    if not cases:
        raise StylefitError(f"{path}: no cases")
    return cases


# ---------------------------------------------------------------------------------------------
# Scores


@dataclass(frozen=True)
class ScoreKey:
    """Which released score: e.g. metric='SPPL', variant='k2', source='record_book_backup'."""

    metric: str
    variant: str = "-"
    source: str = "record_book_backup"


def load_block_scores(path: Path) -> dict[tuple[str, str, ScoreKey, tuple[int, int]], dict[str, float]]:
    """metric_scores_blocks.jsonl.gz -> {(model, task, key, block): {strategy: block-mean score}}."""
    table = {}
    for where, obj in read_records(path):
        key = ScoreKey(need(obj, "metric", str, where), need(obj, "variant", str, where), need(obj, "source", str, where))
        block = (need(obj, "block_start", int, where), need(obj, "block_end", int, where))
        index = (need(obj, "model", str, where), need(obj, "task", str, where), key, block)
        if index in table:
            raise StylefitError(f"{where}: duplicate block score record {index}")
        scores = need(obj, "scores", dict, where)
        # IFD is +inf for some label-only targets (L(y) = 0); an infinity still orders, NaN does not.
        if not all(isinstance(v, (int, float)) and not math.isnan(v) for v in scores.values()):
            raise StylefitError(f"{where}: a score is not a number")
        table[index] = {s: float(v) for s, v in scores.items()}
    return table


def load_sppl_per_example(path: Path) -> dict[tuple[str, str, ScoreKey, str], np.ndarray]:
    """sppl_per_example.jsonl.gz -> {(model, task, key, strategy): SPPL of ids 0..n-1}."""
    table = {}
    for where, obj in read_records(path):
        key = ScoreKey(need(obj, "metric", str, where), need(obj, "variant", str, where), need(obj, "source", str, where))
        index = (need(obj, "model", str, where), need(obj, "task", str, where), key, need(obj, "strategy", str, where))
        if index in table:
            raise StylefitError(f"{where}: duplicate per-example record {index}")
        table[index] = finite_values(obj, "values", where, need(obj, "n", int, where))
    return table


def load_skywork_per_example(path: Path) -> dict[tuple[str, str], np.ndarray]:
    """skywork_per_example.jsonl.gz -> {(task, strategy): reward of ids 0..n-1} (model-free)."""
    table = {}
    for where, obj in read_records(path):
        index = (need(obj, "task", str, where), need(obj, "strategy", str, where))
        if index in table:
            raise StylefitError(f"{where}: duplicate skywork record {index}")
        table[index] = finite_values(obj, "values", where, need(obj, "n", int, where))
    return table


def load_proxy_accuracies(path: Path) -> dict[tuple[str, str, str], dict[int, float]]:
    """ground_truth.jsonl, train-on-100 runs only -> {(model, task, strategy): {seed: accuracy}}."""
    table: dict[tuple[str, str, str], dict[int, float]] = {}
    for where, obj in read_records(path):
        if need(obj, "setting", str, where) != PROXY_SETTING or need(obj, "cross_domain", bool, where):
            continue
        index = (need(obj, "model", str, where), need(obj, "task", str, where), need(obj, "strategy", str, where))
        seed = need(obj, "seed", int, where)
        accuracy = need(obj, "accuracy", (int, float), where)
        if not 0 <= accuracy <= 1:
            raise StylefitError(f"{where}: accuracy {accuracy} is not a fraction")
        if seed in table.setdefault(index, {}):
            raise StylefitError(f"{where}: duplicate proxy run {index} seed {seed}")
        table[index][seed] = float(accuracy)
    return table


def load_response_words(path: Path) -> dict[tuple[str, str], np.ndarray]:
    """candidates.jsonl.gz -> {(task, strategy): whitespace word count of the response of ids
    0..n-1}. Only lengths are kept; the texts stay in the bundle."""
    words: dict[tuple[str, str], dict[int, int]] = {}
    for where, obj in read_records(path):
        index = (need(obj, "task", str, where), need(obj, "strategy", str, where))
        item = need(obj, "id", int, where)
        response = need(obj, "response", str, where)
        if item in words.setdefault(index, {}):
            raise StylefitError(f"{where}: duplicate candidate {index} id {item}")
        words[index][item] = len(response.split())
    table = {}
    for index, by_id in words.items():
        if sorted(by_id) != list(range(len(by_id))):
            raise StylefitError(f"{path}: candidates of {index} do not cover ids 0..{len(by_id) - 1}")
        table[index] = np.array([by_id[i] for i in range(len(by_id))], dtype=float)
    return table


# ---------------------------------------------------------------------------------------------
# The bundle


class MissingScores(StylefitError):
    """The bundle has no block scores of some metric for a case: an error for the reproduction,
    a missing case for a selector."""


@dataclass
class PaperBench:
    """Everything the paper track reads, keyed as in the bundle's README."""

    root: Path
    cases: list[PaperCase]
    block_scores: dict[tuple[str, str, ScoreKey, tuple[int, int]], dict[str, float]]
    sppl_per_example: dict[tuple[str, str, ScoreKey, str], np.ndarray]
    skywork_per_example: dict[tuple[str, str], np.ndarray]
    proxy_accuracy: dict[tuple[str, str, str], dict[int, float]]
    response_words: dict[tuple[str, str], np.ndarray]
    reference_tables: dict[str, Any] | None = field(repr=False)  # None: the file is absent
    absent_files: tuple[str, ...] = ()  # optional files the bundle lacks

    def benchmark_cases(self, benchmark: str) -> list[PaperCase]:
        cases = [c for c in self.cases if c.benchmark == benchmark]
        if not cases:
            present = sorted({c.benchmark for c in self.cases})
            raise StylefitError(
                f"{self.root / CASES_FILE}: no case of benchmark {benchmark!r} (the bundle has {', '.join(present)})"
            )
        return cases

    def block_score(self, case: PaperCase, key: ScoreKey, block: tuple[int, int]) -> dict[str, float]:
        """Block-mean scores of all of the case's scored strategies (an error if one is missing)."""
        scores = self.block_scores.get((case.model, case.task, key, block))
        if scores is None:
            raise MissingScores(f"{BLOCK_SCORES_FILE}: no {key} scores for {case.case_id} block {block}")
        missing = [s for s in case.scored_strategies if s not in scores]
        if missing:
            raise MissingScores(f"{BLOCK_SCORES_FILE}: {key} for {case.case_id} lacks {missing}")
        return scores


def load_paper_bench(path: str | Path | None = None) -> PaperBench:
    """Load and validate the whole bundle (about 2 s). Required files missing -> StylefitError
    naming the file; optional ones missing -> empty tables, listed in `absent_files`."""
    root = resolve_bundle_dir(path)
    absent = tuple(name for name in OPTIONAL_FILES if not (root / name).exists())

    def optional(name: str, loader, empty):
        return empty if name in absent else loader(root / name)

    return PaperBench(
        root=root,
        cases=load_cases(root / CASES_FILE),
        block_scores=load_block_scores(root / BLOCK_SCORES_FILE),
        sppl_per_example=optional(SPPL_PER_EXAMPLE_FILE, load_sppl_per_example, {}),
        skywork_per_example=optional(SKYWORK_PER_EXAMPLE_FILE, load_skywork_per_example, {}),
        proxy_accuracy=optional(GROUND_TRUTH_FILE, load_proxy_accuracies, {}),
        response_words=optional(CANDIDATES_FILE, load_response_words, {}),
        reference_tables=optional(REFERENCE_FILE, load_reference_tables, None),
        absent_files=absent,
    )


def load_reference_tables(path: Path) -> dict[str, Any]:
    reference = read_json(path)
    if "recomputed_shared_cases" not in reference:
        raise StylefitError(f"{path}: missing 'recomputed_shared_cases'")
    return reference
