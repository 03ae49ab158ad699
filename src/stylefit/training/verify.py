"""``stylefit.verify``: the ground truth the selectors are judged against.

For a task, one or more targets and K candidate sets: fine-tune each target on each strategy's
data with several seeds, evaluate every fine-tuned model (and the untouched target, once) on the
task's test questions, and rank the strategies by accuracy against the noise floor.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stylefit.core.errors import StylefitError
from stylefit.core.store import Store
from stylefit.data.candidates import CandidateSet, load_candidates
from stylefit.data.records import FieldMap
from stylefit.data.task import Task, load_task
from stylefit.models.registry import DEFAULT_MODEL
from stylefit.training.grid import GridPlan, RunResources, run_grid
from stylefit.training.plan import _chosen, plan_runs, run_numerics
from stylefit.training.recipe import EvalSettings, Recipe
from stylefit.training.runs import RunResult, RunSpec, StageProgress, device_kind
from stylefit.training.summary import VerifyCase, summarize


def _settings(cls, value, what: str):
    """A pydantic settings object from itself, a dict or None; invalid values are a one-line error."""
    if isinstance(value, cls):
        return value
    try:
        return cls(**(value or {}))
    except ValidationError as e:
        first = e.errors()[0]
        raise StylefitError(f"{what}: {'.'.join(map(str, first['loc'])) or 'value'}: {first['msg']}") from None


EVAL_MARGIN = 1.25  # the evaluation budget should leave room past the longest training target


def eval_budget(candidates: CandidateSet, target: str, strategies: list[str], n_train: int,
                eval_settings: EvalSettings, leave_out_wrong: bool = False) -> dict[str, Any]:
    """The longest training target in the target's tokens (of the responses trained on), and whether
    ``max_new_tokens`` leaves ``EVAL_MARGIN`` room past it: a model taught answers that long is cut
    by a shorter budget."""
    from transformers import AutoTokenizer

    from stylefit.models.registry import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(target).path)
    longest = (0, "", "")
    for strategy in strategies:
        for c in candidates.candidates(strategy, candidates.ids[:n_train]):
            if not c.truncated and not (leave_out_wrong and c.wrong):
                longest = max(longest, (len(tokenizer(c.response, add_special_tokens=False).input_ids), strategy, c.id))
    needed = math.ceil(EVAL_MARGIN * longest[0])
    return {"target": target, "max_new_tokens": eval_settings.max_new_tokens, "longest_target_tokens": longest[0],
            "longest_target": f"strategy '{longest[1]}' id '{longest[2]}'", "needed": needed,
            "enough": eval_settings.max_new_tokens >= needed}


def over_long(specs: Sequence[RunSpec]) -> str | None:
    """Why the grid's training examples do not fit their recipe's max_length, or None when they fit:
    the trainer refuses an over-long example (nothing is truncated), so it is found before any run
    instead of halfway through the grid. Runs that skip over-long examples are not checked."""
    from transformers import AutoConfig, AutoTokenizer

    from stylefit.models.registry import resolve_model
    from stylefit.training.sft import max_length_limit, training_lengths

    checked: set[tuple[str, str, int]] = set()
    loaded: dict[str, tuple] = {}  # per target: its tokenizer and config
    for spec in specs:
        if not spec.train or spec.recipe is None or spec.recipe.skip_overlong:
            continue
        if (spec.target, spec.strategy, spec.recipe.max_length) in checked:  # the seeds of a strategy train on the same examples
            continue
        checked.add((spec.target, spec.strategy, spec.recipe.max_length))
        if spec.target not in loaded:
            path = resolve_model(spec.target).path
            loaded[spec.target] = AutoTokenizer.from_pretrained(path), AutoConfig.from_pretrained(path)
        tokenizer, config = loaded[spec.target]
        limit = max_length_limit(spec.recipe, config)
        lengths = training_lengths(tokenizer, spec.train)
        if over := [(n, e.id) for n, e in zip(lengths, spec.train) if n > limit]:
            return (f"{spec.target}: strategy '{spec.strategy}': training example {over[0][1]} ({over[0][0]} tokens) is longer "
                    f"than max_length {limit} ({len(over)} over-long, the longest {max(over)[0]} tokens); nothing is "
                    "truncated: raise max_length, or skip over-long examples, before any run")
    return None


@dataclass
class VerifyResult:
    task: str
    metric: str
    seeds: list[int]
    recipe: dict[str, Any]
    eval: dict[str, Any]
    n_train: int
    cases: list[VerifyCase]  # one per target
    runs: list[RunResult]  # every run in full: training record and per-item outputs
    computed: int  # runs executed now (the rest came from the store)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    eval_budgets: list[dict[str, Any]] = field(default_factory=list)  # per target: see ``eval_budget``

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["runs"] = [r.model_dump(mode="json") for r in self.runs]
        for case, out in zip(self.cases, d["cases"]):
            out["best"], out["tied_best"], out["ranking"] = case.best, case.tied_best, case.ranking
        return d


def verify(
    task: Task | str | Path,
    candidates: CandidateSet | str | Path | list[str | Path],
    *,
    targets: str | list[str] = DEFAULT_MODEL,
    strategies: list[str] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    recipe: Recipe | dict[str, Any] | None = None,
    eval_settings: EvalSettings | dict[str, Any] | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    base: bool = True,
    metric: str = "strict",
    store: Store | str | Path | None = None,
    ray_address: str | None = None,
    resources: RunResources | dict[str, Any] | None = None,
    workers: int = 1,
    device: str = "auto",
    dtype: str = "auto",
    checkpoint_every: int = 10,
    progress: StageProgress | None = None,
    fields: FieldMap | None = None,
    leave_out_wrong: bool = False,
    on_plan: Callable[[GridPlan], None] | None = None,
    earlier_budgets: Sequence[int] = (),
    earlier_max_lengths: Sequence[int] = (),
    bind_device: bool = False,
    require_eval_budget: bool = False,
) -> VerifyResult:
    """Fine-tune every target on every strategy with every seed, evaluate, rank against the noise floor.

    ``targets``: registered model names, local Hugging Face folders or hub ids. ``n_train``: the
    first N candidate questions are trained on (default all); ``n_test``: the first N test questions.
    ``metric``: "strict" (the answer after "Final Answer:") or "flexible" ranks; both are reported.
    ``ray_address``: None runs here, one run after another; "local" starts a Ray instance on this
    machine; "auto" or "ray://host:port" joins a cluster (stylefit must be installed on its nodes).
    ``workers``: runs at once in processes of this machine (e.g. several small runs on one GPU).
    ``device``/``dtype``: auto = CUDA and bf16 mixed precision where available, else CPU and fp32;
    the dtype is part of every run's key. ``checkpoint_every``: optimizer steps between the resumable
    checkpoints a run saves under $STYLEFIT_HOME/checkpoints (a killed run goes on from its newest; 0 =
    none); they are removed when the run has finished. Checkpoint selection maximises ``metric`` unless the
    recipe names its own ``checkpoint_metric``. ``fields``: the id, question and response fields
    of flat candidate rows (see ``load_candidates``). Responses that ``generate`` flagged truncated are
    never trained on; with ``leave_out_wrong``, neither are those it flagged wrong and not fixed (as
    ``stylefit run`` leaves them out of its training set). Both are counted in the notes. ``on_plan``
    hears how many runs there are, how many are stored, and a time estimate, before any runs.
    ``earlier_budgets``: evaluation ``max_new_tokens`` the grid ran with before; a run stored under a
    smaller one that cut none of its answers is the same run under a larger budget, and is taken over.
    ``earlier_max_lengths``: recipe ``max_length``s it ran with before; a run stored under a smaller one
    that skipped no training example trained the same, and is taken over. Training examples longer than
    ``max_length`` are refused before any run (unless the recipe skips them).
    ``bind_device``: key the runs by the kind of device too (cpu, cuda), so that stored runs made on
    another kind are not mixed in; unbound runs made on several kinds are noted. ``require_eval_budget``:
    refuse to start any run while ``max_new_tokens`` leaves less than ``EVAL_MARGIN`` times the longest
    training target (otherwise that is a flag in the notes, after the runs).
    """
    if metric not in ("strict", "flexible"):
        raise StylefitError(f"unknown metric '{metric}' (known: strict, flexible)")
    t0 = time.perf_counter()
    task = task if isinstance(task, Task) else load_task(task)
    candidates = candidates if isinstance(candidates, CandidateSet) else load_candidates(task, candidates, fields)
    recipe = _settings(Recipe, recipe, "recipe")
    eval_settings = _settings(EvalSettings, eval_settings, "evaluation settings")
    resources = _settings(RunResources, resources, "resources")
    if "checkpoint_metric" not in recipe.model_fields_set:
        recipe = recipe.model_copy(update={"checkpoint_metric": metric})
    device, dtype = run_numerics(device, dtype, ray_address, resources)
    store = store if isinstance(store, Store) else Store(store)
    targets = [targets] if isinstance(targets, str) else list(targets)
    seeds = list(seeds)

    plans = [plan_runs(task, candidates, t, strategies=strategies, seeds=seeds, recipe=recipe, eval_settings=eval_settings,
                       n_train=n_train, n_test=n_test, base=base, device=device, dtype=dtype,
                       checkpoint_every=checkpoint_every, leave_out_wrong=leave_out_wrong, bind_device=bind_device)
             for t in targets]
    trained_on = candidates.ids[: n_train or len(candidates.ids)]
    chosen = _chosen(strategies, candidates.strategies, "strategy")
    budgets = [eval_budget(candidates, t, chosen, len(trained_on), eval_settings, leave_out_wrong) for t in targets]

    def checked(plan: GridPlan) -> None:  # before any run, and only when there is one to make
        if plan.to_run and (why := over_long([s for p in plans for s in p])):
            raise StylefitError(why)
        if require_eval_budget and plan.to_run and (short := [b for b in budgets if not b["enough"]]):
            b = short[0]
            raise StylefitError(f"{b['target']}: the evaluation budget (max_new_tokens={b['max_new_tokens']}) leaves less than "
                                f"{EVAL_MARGIN:g}x its longest training target ({b['longest_target_tokens']} tokens, "
                                f"{b['longest_target']}); set max_new_tokens >= {b['needed']} before any run")
        if on_plan:
            on_plan(plan)

    outcome = run_grid([s for plan in plans for s in plan], store, ray_address=ray_address, resources=resources,
                       workers=workers, progress=progress, on_plan=checked, earlier_budgets=earlier_budgets,
                       earlier_max_lengths=earlier_max_lengths)

    cases, start = [], 0
    for plan in plans:
        cases.append(summarize(outcome.results[start : start + len(plan)], metric))
        start += len(plan)
    notes = []
    if outcome.reused:
        notes.append(f"{outcome.reused} runs taken over from another key, made the same way (a smaller evaluation budget "
                     "that none of their answers reached, a smaller max_length that no training example reached, unbound on the device kind they are bound to, or another strategy "
                     "with the same training examples): see runs[].reused")
    for b in budgets:
        if not b["enough"]:
            notes.append(f"FLAGGED: max_new_tokens={b['max_new_tokens']} leaves less than {EVAL_MARGIN:g}x the longest training "
                         f"target ({b['longest_target_tokens']} tokens of {b['target']}, {b['longest_target']}); answers written "
                         f"like it are cut: use max_new_tokens >= {b['needed']}")
    for strategy in chosen:
        rows = candidates.candidates(strategy, trained_on)
        if cut := sum(c.truncated for c in rows):
            notes.append(f"{strategy}: {cut}/{len(trained_on)} responses flagged truncated (cut by the length limit) are left "
                         "out of its training set")
        if wrong := sum(c.wrong and not c.truncated for c in rows):
            notes.append(f"{strategy}: {wrong}/{len(trained_on)} responses flagged wrong and not fixed are "
                         + ("left out of its training set" if leave_out_wrong else "trained on (leave_out_wrong leaves them out)"))
    if len(kinds := sorted({device_kind(r.device) for r in outcome.results})) > 1:
        notes.append(f"FLAGGED: the runs were made on {' and '.join(kinds)}, whose answers differ in near ties; "
                     "bind_device keys runs by device so that they never mix")
    versions = {tuple(sorted(r.versions.items())) for r in outcome.results}
    if len(versions) > 1:
        notes.append(f"runs were made with {len(versions)} different sets of library versions (see runs[].versions)")
    return VerifyResult(
        task=task.name, metric=metric, seeds=seeds, recipe=recipe.model_dump(mode="json"),
        eval=eval_settings.model_dump(mode="json"), n_train=n_train or len(candidates.ids), cases=cases,
        runs=outcome.results, computed=outcome.computed, notes=notes, timings={"total_s": time.perf_counter() - t0},
        eval_budgets=budgets,
    )
