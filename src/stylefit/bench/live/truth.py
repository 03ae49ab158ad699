"""A case's ground truth: the target fine-tuned on every strategy with every seed and evaluated on
the case's test questions (``stylefit verify``, one recipe for the whole case), run into the
committed run files and read back from them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stylefit.bench.live.config import CaseConfig, LiveConfig
from stylefit.bench.live.runs import CommittedRuns, planned
from stylefit.core.errors import StylefitError
from stylefit.training.runs import device_kind


def run_truth(config: LiveConfig, case: CaseConfig, task, *, store=None, workers: int = 1,
              say: Callable[[str], None] = lambda line: None, progress=None) -> None:
    """Run (or resume) the case's ground truth on its bound device, committing each run as it
    finishes; an evaluation budget that would cut answers written like the training targets, or a
    training example over the recipe's max_length, is refused before any run."""
    from stylefit.models.device import resolve_device
    from stylefit.training import verify

    say(f"{case.name}: ground truth (fine-tuning on every strategy, seeds {case.seeds or config.seeds})")
    if case.device is not None and (here := device_kind(resolve_device("auto"))) != case.device:
        raise StylefitError(f"case '{case.name}': its runs are bound to {case.device}, and this machine runs on {here}")
    folder = config.path(config.results) / case.name
    files = [folder / "candidates" / f"{s}.jsonl" for s in case.strategies + case.routed_sets]
    try:
        verify(task, files, targets=case.target, seeds=case.seeds or config.seeds,
               recipe=config.recipe | case.recipe, eval_settings=config.eval | case.eval, n_train=case.n_train,
               n_test=case.n_test, base=True, dtype=config.dtype, workers=workers,
               store=CommittedRuns(store, folder / "runs", say), progress=progress,
               earlier_budgets=config.earlier_eval_budgets,
               earlier_max_lengths=config.earlier_max_lengths, device=case.device or "auto", require_eval_budget=True,
               bind_device=case.device is not None, on_plan=lambda plan: planned(case.name, folder / "runs", plan, say))
    except StylefitError as e:
        raise StylefitError(f"case '{case.name}': {e}") from None


def case_truth(config: LiveConfig, case: CaseConfig):
    """The case's ``VerifyCase``, and each run's seconds, device and test answers cut by the length
    limit (cut, of them caught in a loop), from its committed runs; None until every run is there."""
    from stylefit.training.runs import RunResult
    from stylefit.training.summary import summarize

    folder = config.path(config.results) / case.name / "runs"
    runs = [RunResult.model_validate(json.loads(f.read_text(encoding="utf-8"))) for f in sorted(folder.glob("*.json"))]
    seeds = case.seeds or config.seeds
    trained = case.strategies + case.routed_sets
    wanted = [r for r in runs if r.strategy is None or (r.strategy in trained and r.seed in seeds)]
    seen: dict[tuple, str] = {}
    for r in wanted:  # runs of an older recipe or split must not be averaged in
        if (r.strategy, r.seed) in seen:
            raise StylefitError(f"{folder}: two runs of {r.strategy or 'the base model'} seed {r.seed} ({seen[r.strategy, r.seed]}, "
                                f"{r.key}): the case's settings changed; remove the stale one")
        seen[r.strategy, r.seed] = r.key
    if any((s, seed) not in seen for s in case.strategies for seed in seeds):
        return None, {}, {}, {}
    # a routed set is reported once all its seeds are in; it never holds up judging the strategies
    unfinished = {s for s in case.routed_sets if any((s, seed) not in seen for seed in seeds)}
    wanted = [r for r in wanted if r.strategy not in unfinished]
    label = lambda r: f"{r.strategy}:seed{r.seed}" if r.strategy else "base"
    wanted.sort(key=lambda r: (r.strategy is not None, r.strategy or "", r.seed or 0))
    seconds = {label(r): round(r.timings.get("total_s", 0.0), 1) for r in wanted}
    devices = {label(r): r.device for r in wanted}  # run costs differ between a CPU and a GPU
    cut = {label(r): (r.evaluation.hit_length_limit, r.evaluation.looping) for r in wanted}
    return summarize(wanted, "strict"), seconds, devices, cut


def truth_progress(config: LiveConfig, case: CaseConfig) -> str:
    """How far an incomplete case's ground truth is: its strategy runs committed of those it needs, and where they run."""
    seeds = case.seeds or config.seeds
    done = {(run.get("strategy"), run.get("seed")) for run in
            (json.loads(f.read_text(encoding="utf-8")) for f in (config.path(config.results) / case.name / "runs").glob("*.json"))}
    have = sum((s, seed) in done for s in case.strategies for seed in seeds)
    return (f"{have} of its {len(case.strategies) * len(seeds)} strategy runs committed"
            + (f"; bound to {case.device}" if case.device else ""))


def cut_probes(folder: Path) -> list[dict[str, Any]]:
    """What ``benchmarks/live/cut_probe.py`` found for flagged runs: their cut answers again, with a larger budget."""
    return [{k: v for k, v in json.loads(path.read_text(encoding="utf-8")).items() if k != "items"}
            for path in sorted(folder.glob("*.json"))]
