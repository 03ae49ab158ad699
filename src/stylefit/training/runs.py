"""One run of the ground truth: fine-tune the target on one strategy's data with one seed (or
leave it as it is: the base-model reference), then answer the test questions.

A ``RunSpec`` carries everything the run needs (the texts included), so it executes the same in
this process or on a Ray worker, and its content key is the run's identity in the store.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Iterable
from typing import Any, Callable

from pydantic import BaseModel, Field

from stylefit.core.errors import StylefitError
from stylefit.core.store import content_key, stylefit_home
from stylefit.core.versions import library_versions
from stylefit.training.evaluate import EvalQuestion, Evaluation, evaluate, with_gold_loss
from stylefit.training.recipe import EvalSettings, Recipe
from stylefit.training.sft import TrainExample, TrainingOutcome, finetune

KEY_VERSION = "verify-run/v1"

# progress(stage, total, advance), as in stylefit.select
StageProgress = Callable[[str, int, int], None]


class RunSpec(BaseModel):
    task: str
    verifier: str
    target: str  # registered name, local folder or hub id: resolved again where the run executes
    revision: str  # the weights' content hash; a run refuses a target whose revision changed
    chat_template: str  # "" when the target has none (plain prompt + newline)
    strategy: str | None  # None = the base model, no fine-tuning
    seed: int | None
    dtype: str = "float32"  # compute type (resolved): mixed-precision training, and the weights evaluation runs in
    device: str = "auto"  # where it runs, resolved on the machine that runs it (its kind is part of the key when bound)
    # a GPU and a CPU differ in the last bits, and near-tied greedy answers turn: a bound run is keyed by
    # the kind of device too, so that one grid never mixes them
    bind_device: bool = False
    checkpoint_every: int = Field(10, ge=0)  # optimizer steps between resumable checkpoints, 0 = none (not part of the key)
    recipe: Recipe | None
    eval: EvalSettings
    train: list[TrainExample] = []
    validation: list[EvalQuestion] = []
    test: list[EvalQuestion]

    def at_budget(self, max_new_tokens: int) -> "RunSpec":
        """The same run evaluated with another token budget."""
        return self.model_copy(update={"eval": self.eval.model_copy(update={"max_new_tokens": max_new_tokens})})

    @property
    def label(self) -> str:
        return f"{self.target}:{self.strategy}:seed{self.seed}" if self.strategy else f"{self.target}:base"

    def trained_alike(self) -> str:
        """The key without the strategy's name: two strategies with the same training examples train
        the same run (the name reaches neither training nor evaluation)."""
        return self.model_copy(update={"strategy": "*"}).key()

    def key(self) -> str:
        """Everything the result depends on; not the model's name (the revision is its identity), the
        device, the checkpoint interval (a resumed run trains the same bits), nor the generation batch
        size and token budget."""
        depends = self.model_dump(mode="json", exclude={"target": True, "device": True, "checkpoint_every": True,
                                                        "bind_device": True, "eval": {"batch_size", "token_budget"}})
        if not self.eval.gold_loss:  # added later: runs without it keep the keys they were stored under
            del depends["eval"]["gold_loss"]
        if self.bind_device:  # likewise
            depends["device_kind"] = device_kind(self.device)
        if not self.chat_template:  # a base model reads its BOS and stops at its answer line (added later, likewise)
            depends["base_model_answers"] = "bos+answer-line/v1"
        return content_key({"kind": KEY_VERSION, **depends})


def device_kind(device: str) -> str:
    """cpu, cuda, mps: what a device's numerics depend on (not which card of a kind)."""
    if device == "auto":
        raise StylefitError("a run bound to its device needs the device resolved, not 'auto'")
    return device.split(":")[0]


class Reused(BaseModel):
    """A run taken over from another key, made the same way (``grid.take_over``): evaluated with a
    smaller token budget that none of its answers reached (greedy decoding stops at the same tokens
    under a larger one), trained under a smaller ``max_length`` that no training example reached (it is
    only checked), or made unbound on the kind of device the run is bound to; or the run of
    another strategy (``strategy``) whose training examples are the same, byte for byte (``grid.twins``)."""

    key: str
    max_new_tokens: int
    strategy: str | None = None  # set: the run of this other strategy, trained on the same examples
    max_length: int | None = None  # set: trained under this smaller recipe max_length, which no example reached


class RunResult(BaseModel):
    key: str
    label: str
    task: str
    target: str
    revision: str
    strategy: str | None
    seed: int | None
    recipe: dict[str, Any] | None
    training: TrainingOutcome | None
    evaluation: Evaluation
    device: str
    dtype: str
    host: str
    pid: int
    versions: dict[str, str]
    timings: dict[str, float]
    finished_at: str
    reused: Reused | None = None


def distinct_runs(runs: Iterable[RunResult]) -> list[RunResult]:
    """The runs that were computed: one per origin, a run copied from another (the same training
    examples, or taken over from a smaller budget) being the run it copies; first seen kept."""
    runs = list(runs)
    by_key = {run.key: run for run in runs}

    def origin(run: RunResult) -> str:
        seen = set()
        while run.reused is not None and run.reused.key in by_key and run.key not in seen:
            seen.add(run.key)
            run = by_key[run.reused.key]
        return run.reused.key if run.reused is not None else run.key

    firsts: dict[str, RunResult] = {}
    for run in runs:
        firsts.setdefault(origin(run), run)
    return list(firsts.values())


def runs_cost_s(runs: Iterable[RunResult]) -> float:
    """What a set of runs cost, each computed run once at its own recorded seconds, wherever and
    whenever it ran."""
    return sum(run.timings.get("total_s", 0.0) for run in distinct_runs(runs))


def checkpoint_folder(spec: RunSpec) -> Path:
    """Where a run's training checkpoints live until it has finished: one folder per run key."""
    return stylefit_home() / "checkpoints" / spec.key()


def execute(spec: RunSpec, progress: StageProgress | None = None) -> RunResult:
    """Load the target, fine-tune it (unless this is the base run), evaluate it on the test questions."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from stylefit.models.device import resolve_device
    from stylefit.models.registry import resolve_model
    from stylefit.models.transformers_lm import TransformersLM

    def stage(name: str, total: int):
        if progress is None:
            return None
        progress(f"{spec.label}: {name}", total, 0)
        return lambda k: progress(f"{spec.label}: {name}", total, k)

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    resolved = resolve_model(spec.target)
    if resolved.revision != spec.revision:
        raise StylefitError(f"{spec.label}: model '{spec.target}' has revision {resolved.revision[:16]} here, "
                            f"but the run was planned for {spec.revision[:16]}")
    device = resolve_device(spec.device)
    tokenizer = AutoTokenizer.from_pretrained(resolved.path)
    # Trained in fp32 weights (mixed precision when the dtype is lower); evaluated in the dtype.
    model = AutoModelForCausalLM.from_pretrained(resolved.path, dtype=torch.float32).to(device)
    timings["load_s"] = time.perf_counter() - t0

    def answering(m) -> TransformersLM:
        return TransformersLM(resolved, device=device, model=m, tokenizer=tokenizer, token_budget=spec.eval.token_budget)

    training = None
    checkpoints = checkpoint_folder(spec) if spec.strategy is not None and spec.checkpoint_every else None
    if spec.strategy is not None:
        def validate(trained) -> float:
            with torch.autocast(torch.device(device).type, dtype=getattr(torch, spec.dtype), enabled=spec.dtype != "float32"):
                evaluation = evaluate(answering(trained), spec.validation, spec.verifier, spec.eval.max_new_tokens, spec.eval.batch_size)
            return evaluation.accuracy(spec.recipe.checkpoint_metric)

        steps = (lambda total, k: progress(f"{spec.label}: training steps", total, k)) if progress else None
        model, training = finetune(model, tokenizer, spec.train, spec.recipe, spec.seed, validate=validate,
                                   progress=steps, label=spec.label, dtype=spec.dtype, checkpoints=checkpoints,
                                   checkpoint_every=spec.checkpoint_every)
        timings["train_s"] = training.train_s
        timings["validation_s"] = training.validation_s
        if hasattr(model, "merge_and_unload"):
            # Fold the LoRA adapters into the weights: the same function, and generation runs the base
            # model's graph instead of adding two small matmuls per adapted layer and token.
            model = model.merge_and_unload()

    lm = answering(model.to(getattr(torch, spec.dtype)))
    evaluation = evaluate(lm, spec.test, spec.verifier, spec.eval.max_new_tokens, spec.eval.batch_size,
                          progress=stage("test answers", len(spec.test)))
    timings["generation_s"] = evaluation.generation_s
    timings["verification_s"] = evaluation.verification_s
    if spec.eval.gold_loss:
        t = time.perf_counter()
        evaluation = with_gold_loss(lm, spec.test, evaluation)
        timings["gold_loss_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    if checkpoints is not None:
        shutil.rmtree(checkpoints, ignore_errors=True)  # the result is all a rerun needs now
    return RunResult(
        key=spec.key(), label=spec.label, task=spec.task, target=spec.target, revision=spec.revision,
        strategy=spec.strategy, seed=spec.seed, recipe=spec.recipe.model_dump(mode="json") if spec.recipe else None,
        training=training, evaluation=evaluation, device=device, dtype=lm.dtype, host=socket.gethostname(), pid=os.getpid(),
        versions=library_versions(), timings=timings, finished_at=datetime.now(timezone.utc).isoformat(),
    )
