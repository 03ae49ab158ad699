"""The runs of one (task, target): what ``verify`` runs for the ground truth, and what the learnability
proxy (a scorer) runs on a sample; and the device and dtype they run with."""

from __future__ import annotations

from collections.abc import Sequence

from stylefit.core.errors import StylefitError, TooFewQuestions
from stylefit.data.candidates import CandidateSet
from stylefit.data.task import Task
from stylefit.models.device import resolve_device, resolve_dtype
from stylefit.training.evaluate import EvalQuestion
from stylefit.training.grid import RunResources
from stylefit.training.recipe import EvalSettings, Recipe
from stylefit.training.runs import RunSpec
from stylefit.training.sft import TrainExample


def _chosen(requested: list[str] | None, known: list[str], what: str) -> list[str]:
    if requested is None:
        return known
    unknown = [s for s in requested if s not in known]
    if unknown:
        raise StylefitError(f"unknown {what} '{unknown[0]}' (known: {', '.join(known)})")
    if len(set(requested)) != len(requested):
        raise StylefitError(f"{what}s given twice: {', '.join(requested)}")
    return requested


def run_numerics(device: str, dtype: str, ray_address: str | None, resources: RunResources) -> tuple[str, str]:
    """(device, dtype) of the runs. Here they resolve on this machine; on Ray a run's device is its
    worker's (a GPU when it asks for one), and 'auto' assumes bf16 there (a GPU without it fails loudly)."""
    if ray_address is None:
        resolved = resolve_device(device)
        return resolved, resolve_dtype(dtype, resolved)
    if device == "auto":
        device = "cuda" if resources.num_gpus > 0 else "cpu"
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    return device, resolve_dtype(dtype, "cpu")  # names checked here; GPU support on the worker


def plan_runs(task: Task, candidates: CandidateSet, target: str, *, strategies: list[str] | None = None,
              seeds: Sequence[int] = (0, 1, 2), recipe: Recipe | None = None, eval_settings: EvalSettings | None = None,
              n_train: int | None = None, n_test: int | None = None, base: bool = True,
              device: str = "cpu", dtype: str = "float32", checkpoint_every: int = 10,
              leave_out_wrong: bool = False, bind_device: bool = False) -> list[RunSpec]:
    """The runs of one (task, target): strategies x seeds, plus the base model once.
    ``device`` and ``dtype`` as resolved by ``run_numerics``. Responses flagged truncated are never
    trained on; with ``leave_out_wrong``, neither are those flagged wrong and not fixed."""
    from transformers import AutoTokenizer

    from stylefit.models.registry import resolve_model

    recipe = recipe or Recipe()
    eval_settings = eval_settings or EvalSettings()
    strategies = _chosen(strategies, candidates.strategies, "strategy")
    seeds = list(seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise StylefitError(f"seeds must be distinct and at least one, got {seeds}")
    _ = task.verifier  # a task without a verifier fails here, not after the first training run
    if not task.test:
        raise StylefitError(f"task '{task.name}' ({task.source}) has no test split: add \"test\": \"test.jsonl\" to task.json")
    n_train = len(candidates.ids) if n_train is None else n_train
    if not 1 <= n_train <= len(candidates.ids):
        raise StylefitError(f"n_train={n_train}, but the candidate sets hold {len(candidates.ids)} questions")
    n_test = len(task.test) if n_test is None else n_test
    if not 1 <= n_test <= len(task.test):
        raise StylefitError(f"n_test={n_test}, but task '{task.name}' has {len(task.test)} test questions")

    train_ids = candidates.ids[:n_train]
    test = [EvalQuestion(id=q.id, prompt=task.prompt(q), gold=q.gold, metadata=q.metadata) for q in task.test[:n_test]]
    validation: list[EvalQuestion] = []
    if recipe.select_checkpoint:
        trained = set(train_ids)
        held_out = [q for q in task.train if q.id not in trained]
        if len(held_out) < recipe.validation_questions:
            raise StylefitError(f"checkpoint selection needs {recipe.validation_questions} validation questions, but task "
                                f"'{task.name}' has only {len(held_out)} training questions outside the {n_train} trained on")
        validation = [EvalQuestion(id=q.id, prompt=task.prompt(q), gold=q.gold, metadata=q.metadata)
                      for q in held_out[: recipe.validation_questions]]

    resolved = resolve_model(target)
    chat_template = AutoTokenizer.from_pretrained(resolved.path).chat_template or ""
    common = dict(task=task.name, verifier=task.verifier_name, target=target, revision=resolved.revision,
                  chat_template=chat_template, eval=eval_settings, test=test, device=device, dtype=dtype,
                  checkpoint_every=checkpoint_every, bind_device=bind_device)
    specs = [RunSpec(**common, strategy=None, seed=None, recipe=None)] if base else []
    for strategy in strategies:
        train = [TrainExample(id=c.id, prompt=c.prompt, response=c.response) for c in candidates.candidates(strategy, train_ids)
                 if not c.truncated and not (leave_out_wrong and c.wrong)]  # cut text is not a target
        if not train:
            raise TooFewQuestions(f"strategy '{strategy}': all {len(train_ids)} training responses are flagged truncated"
                                + (" or wrong" if leave_out_wrong else "") + ": nothing to train on")
        for seed in seeds:
            specs.append(RunSpec(**common, strategy=strategy, seed=seed, recipe=recipe, train=train, validation=validation))
    return specs
