"""The grid runner: every run is a unit in the store, written once, when it finishes.

A killed grid resumes where it stopped: the runs it finished are in the store and never run
again, and a run it was training goes on from its newest checkpoint. Grids sharing a store claim
each run before starting it, so that two never train the same run at once. Runs execute one
after another in this process, in ``workers`` processes of this machine (one GPU shared by several small runs, which leave it
mostly idle one at a time), or as Ray tasks on a cluster when given an address ("local" starts a
Ray instance on this machine), each with its resource needs; results come back to this process,
the store's only writer.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass

from pydantic import BaseModel, Field

from stylefit.core.errors import StylefitError
from stylefit.core.store import Store
from stylefit.training.runs import Reused, RunResult, RunSpec, StageProgress, device_kind, execute

RUN_KIND = "verify-run"


class RunResources(BaseModel):
    """What one run asks a Ray cluster for."""

    num_cpus: float = Field(1, gt=0)
    num_gpus: float = Field(0, ge=0)
    memory_gb: float | None = Field(None, gt=0)

    def ray_options(self) -> dict:
        options = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus, "max_retries": 1}  # a lost node: retry once
        if self.memory_gb is not None:
            options["memory"] = int(self.memory_gb * 2**30)
        return options


@dataclass
class GridOutcome:
    results: list[RunResult]  # in the order of the specs
    computed: int  # runs executed now (the rest came from the store)
    reused: int = 0  # of the stored, runs taken over from another key (``take_over``, ``twins``)


@dataclass(frozen=True)
class GridPlan:
    runs: int  # distinct runs asked for
    to_run: int  # of them not stored yet
    mean_stored_s: float | None  # wall seconds of the stored ones like those to run, on average (None: none stored)
    keys: frozenset[str] = frozenset()  # the distinct runs' keys
    twins: int = 0  # of those not stored, runs another strategy's run will stand for (``twins``)

    def line(self) -> str:
        estimate = (f"about {self.to_run * self.mean_stored_s / 60:.0f} min at the stored runs' mean of "
                    f"{self.mean_stored_s / 60:.1f} min" if self.mean_stored_s and self.to_run else
                    "nothing to run" if not self.to_run else "no estimate until a run of this grid is stored")
        twins = (f", {self.twins} taken from another strategy's run with the same training examples" if self.twins else "")
        return f"plan: {self.runs} runs, {self.runs - self.to_run - self.twins} stored, {self.to_run} to run{twins}; {estimate}"


def run_grid(specs: list[RunSpec], store: Store, *, ray_address: str | None = None,
             resources: RunResources | None = None, workers: int = 1,
             progress: StageProgress | None = None, on_plan: Callable[[GridPlan], None] | None = None,
             earlier_budgets: Sequence[int] = (), earlier_max_lengths: Sequence[int] = ()) -> GridOutcome:
    """Run every spec whose result is not in the store yet; return all results.

    ``workers`` > 1 runs that many at once in fresh processes here, the CPU threads split between
    them (not with ``ray_address``, where the cluster schedules). ``on_plan`` hears the plan before
    anything runs. ``earlier_budgets``: evaluation token budgets these runs were made with before; a
    stored run made with a smaller one, none of whose answers reached it, is taken over (``take_over``);
    likewise ``earlier_max_lengths``, the recipe's ``max_length``s they were made with, where a run skipped no example."""
    if workers < 1:
        raise StylefitError(f"workers must be at least 1, got {workers}")
    if workers > 1 and ray_address is not None:
        raise StylefitError("workers and a Ray address are two ways to run in parallel: give one")
    keys = [s.key() for s in specs]
    written_before = store.written[RUN_KIND]
    found = {k: RunResult.model_validate(v) for k, v in store.get_many(keys).items()}
    todo = list({k: s for k, s in zip(keys, specs) if k not in found}.items())  # identical specs run once
    reused = take_over(todo, store, earlier_budgets, earlier_max_lengths)
    if reused:
        store.put_many(RUN_KIND, {k: r.model_dump(mode="json") for k, r in reused.items()})
        found |= reused
        todo = [(k, s) for k, s in todo if k not in reused]
        written_before += len(reused)  # stored now, but not computed
    by_key = dict(zip(keys, specs))
    followers = twins(by_key, found, todo)
    waiting = {f for fs in followers.values() for f in fs}
    todo = [(k, s) for k, s in todo if k not in waiting]
    total = len(set(keys))
    if on_plan:
        # the untrained base run takes a fraction of a fine-tune: left out of the estimate when only fine-tunes are left
        trained = [r for r in found.values() if r.strategy is not None]
        like = trained if trained and all(s.strategy is not None for _, s in todo) else list(found.values())
        seconds = [r.timings.get("total_s", 0.0) for r in like]
        on_plan(GridPlan(total, len(todo), sum(seconds) / len(seconds) if seconds else None, frozenset(keys), len(waiting)))
    if progress:
        progress("runs", total, 0)
        progress("runs", total, total - len(todo) - len(waiting))
    shared = 0

    def share(key: str) -> None:  # the runs of other strategies with the same training examples: this run
        nonlocal shared
        copies = {f: found[key].model_copy(update={
            "key": f, "label": by_key[f].label, "strategy": by_key[f].strategy,
            "reused": Reused(key=key, max_new_tokens=by_key[f].eval.max_new_tokens, strategy=found[key].strategy)})
            for f in followers.get(key, [])}
        if copies:
            store.put_many(RUN_KIND, {f: r.model_dump(mode="json") for f, r in copies.items()})
            found.update(copies)
            shared += len(copies)
            if progress:
                progress("runs", total, len(copies))

    def finished(key: str, result: RunResult) -> None:
        store.put_many(RUN_KIND, {key: result.model_dump(mode="json")})  # one transaction: all or nothing
        found[key] = result
        if progress:
            progress("runs", total, 1)
        share(key)

    def stored_by_another(key: str) -> None:  # a grid sharing the store ran it meanwhile
        found[key] = RunResult.model_validate(store.get_many([key])[key])
        if progress:
            progress("runs", total, 1)
        share(key)

    for key in [k for k in followers if k in found]:  # led by a stored run: shared at once
        share(key)

    serial = dict(todo)
    if ray_address is not None or (workers > 1 and len(todo) > 1):
        claimed = [(k, s) for k, s in todo if store.claim(k)]
        try:
            if ray_address is None and claimed:
                _run_in_processes(claimed, workers, finished, progress)
            elif claimed:
                _run_on_ray(claimed, ray_address, resources or RunResources(), finished)
        finally:
            for key, _ in claimed:
                store.release(key)
        serial = {k: s for k, s in todo if k not in found}
    # One after another here; and after a parallel pass, the runs another grid held meanwhile.
    store.compute_claimed({k: [k] for k in serial}, lambda key: finished(key, execute(serial[key], progress)),
                          stored_by_another)
    return GridOutcome([found[k] for k in keys], computed=store.written[RUN_KIND] - written_before - shared,
                       reused=len(reused) + shared)


def twins(specs: dict[str, RunSpec], found: dict[str, RunResult], todo: list[tuple[str, RunSpec]]) -> dict[str, list[str]]:
    """The runs in ``todo`` that another strategy's run stands for, by that run's key: strategies whose
    training examples are the same, byte for byte (two names for one set of responses), train the
    same run, so one is made (a stored one if there is one, else the first asked for) and the others
    are copies of it under their own names."""
    leaders: dict[str, str] = {}
    for key, spec in sorted(specs.items(), key=lambda item: item[0] not in found):  # stored runs lead
        if spec.strategy is not None:
            leaders.setdefault(spec.trained_alike(), key)
    followers: dict[str, list[str]] = {}
    for key, spec in todo:
        if spec.strategy is not None and (leader := leaders[spec.trained_alike()]) != key:
            followers.setdefault(leader, []).append(key)
    return followers


def take_over(todo: list[tuple[str, RunSpec]], store: Store, budgets: Sequence[int],
              max_lengths: Sequence[int] = ()) -> dict[str, RunResult]:
    """The runs in ``todo`` that the store holds under another key but made the same way.

    - A smaller evaluation budget (one of ``budgets``) that none of the run's answers reached: greedy
      decoding of a batch stops when every answer has ended, so a larger budget generates the same
      tokens. Not for runs that pick a checkpoint on validation answers, whose cuts are not recorded.
    - A smaller ``recipe.max_length`` (one of ``max_lengths``) that skipped no training example: the
      limit is only checked (``sft._enforce_max_length``), never handed to TRL, so a run that trained
      every example trains the same under a larger one.
    - For a run bound to its kind of device, the unbound run, if it was made on that kind."""
    taken: dict[str, RunResult] = {}
    for key, spec in todo:
        for variant, budget, max_length in _made_alike(spec, budgets, max_lengths):
            if variant.key() == key or (stored := store.get_many([variant.key()]).get(variant.key())) is None:
                continue
            run = RunResult.model_validate(stored)
            if budget < spec.eval.max_new_tokens and run.evaluation.hit_length_limit:
                continue
            if max_length is not None and (run.training is None or run.training.skipped):
                continue
            if spec.bind_device and device_kind(run.device) != device_kind(spec.device):
                continue
            taken[key] = run.model_copy(update={"key": key, "reused": Reused(key=variant.key(), max_new_tokens=budget,
                                                                              max_length=max_length)})
            break
    return taken


def _made_alike(spec: RunSpec, budgets: Sequence[int], max_lengths: Sequence[int]):
    """(spec as it may have been stored, its budget, its smaller max_length or None), nearest first."""
    current = spec.eval.max_new_tokens
    smaller = [] if spec.validation else sorted({b for b in budgets if b < current}, reverse=True)
    limit = spec.recipe.max_length if spec.recipe else None
    shorter = sorted({m for m in max_lengths if limit is not None and m < limit}, reverse=True)
    for budget in [current, *smaller]:
        for max_length in [None, *shorter]:
            earlier = spec.at_budget(budget)
            if max_length is not None:
                earlier = earlier.model_copy(update={"recipe": spec.recipe.model_copy(update={"max_length": max_length})})
            for variant in [earlier] + ([earlier.model_copy(update={"bind_device": False})] if spec.bind_device else []):
                yield variant, budget, max_length


def _execute_remote(spec: RunSpec, messages=None) -> dict:
    """One run in a worker; its progress (stage, total, advance) goes back through ``messages``."""
    progress = None if messages is None else (lambda stage, total, advance: messages.put((stage, total, advance)))
    return execute(spec, progress).model_dump(mode="json")


def _share_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _run_in_processes(todo: list[tuple[str, RunSpec]], workers: int, finished, progress: StageProgress | None = None) -> None:
    """Each run in a spawned process (CUDA cannot be forked), its result stored as it arrives, its
    progress within the run relayed to ``progress``; the first failure cancels what has not started
    and is raised once the running ones have ended (and been stored)."""
    import multiprocessing
    import queue

    workers = min(workers, len(todo))
    threads = max(1, (os.cpu_count() or 1) // workers)  # oversubscribed threads made training 8x slower
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_share_threads, initargs=(threads,)) as pool, \
            (context.Manager() if progress else contextlib.nullcontext()) as manager:
        messages = manager.Queue() if progress else None

        def relay() -> None:
            while messages is not None:
                try:
                    progress(*messages.get_nowait())
                except queue.Empty:
                    return

        pending = {pool.submit(_execute_remote, spec, messages): key for key, spec in todo}
        error: BaseException | None = None
        while pending:
            done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            relay()
            for future in done:
                key = pending.pop(future)
                if future.cancelled():
                    continue
                if (failure := future.exception()) is not None:
                    if error is None:
                        error = failure
                        for other in pending:
                            other.cancel()
                    continue
                finished(key, RunResult.model_validate(future.result()))
        if error is not None:
            raise error


def _run_on_ray(todo: list[tuple[str, RunSpec]], address: str, resources: RunResources, finished) -> None:
    try:
        import ray
    except ImportError:
        raise StylefitError("running on a Ray cluster needs ray: pip install ray") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    try:
        remote = ray.remote(_execute_remote).options(**resources.ray_options())
        pending = {remote.remote(spec): key for key, spec in todo}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            key = pending.pop(done[0])
            try:
                value = ray.get(done[0])
            except ray.exceptions.RayTaskError as e:
                for ref in pending:
                    ray.cancel(ref)
                cause = e.cause
                if isinstance(cause, StylefitError):
                    raise StylefitError(str(cause)) from None
                raise
            finished(key, RunResult.model_validate(value))
    finally:
        if started_here:
            ray.shutdown()
