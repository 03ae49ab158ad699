"""The grid runner: every run is a unit in the store, written once, when it finishes.

A killed grid resumes where it stopped (the runs it finished are in the store and never run
again; the one it was in runs from the start). Runs execute one after another in this process,
or as Ray tasks on a cluster when given an address ("local" starts a Ray instance on this
machine), each with its resource needs; results come back to this process, the store's only
writer.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

from stylefit.errors import StylefitError
from stylefit.store import Store
from stylefit.training.runs import RunResult, RunSpec, StageProgress, execute

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


def run_grid(specs: list[RunSpec], store: Store, *, ray_address: str | None = None,
             resources: RunResources | None = None, progress: StageProgress | None = None) -> GridOutcome:
    """Run every spec whose result is not in the store yet; return all results."""
    keys = [s.key() for s in specs]
    found = {k: RunResult.model_validate(v) for k, v in store.get_many(keys).items()}
    todo = list({k: s for k, s in zip(keys, specs) if k not in found}.items())  # identical specs run once
    total = len(set(keys))
    if progress:
        progress("runs", total, 0)
        progress("runs", total, total - len(todo))

    def finished(key: str, result: RunResult) -> None:
        store.put_many(RUN_KIND, {key: result.model_dump(mode="json")})  # one transaction: all or nothing
        found[key] = result
        if progress:
            progress("runs", total, 1)

    if ray_address is None:
        for key, spec in todo:
            finished(key, execute(spec, progress))
    elif todo:
        _run_on_ray(todo, ray_address, resources or RunResources(), finished)
    return GridOutcome([found[k] for k in keys], computed=len(todo))


def _execute_remote(spec: RunSpec) -> dict:
    return execute(spec).model_dump(mode="json")


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
