"""The live track's config: its cases (a task, a target, the strategies and their settings), its
selectors, and the task folder each case is judged on (written from a reasoning-gym generator where
the case names one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stylefit.core.config_file import config_path, read_config, require_inputs
from stylefit.core.errors import StylefitError
from stylefit.data.jsonl import write_atomic, write_jsonl


class ReasoningGymTask(BaseModel):
    """A task written from a reasoning-gym generator: disjoint train and test questions."""

    model_config = ConfigDict(extra="forbid")
    reasoning_gym: str
    config: dict[str, Any] = Field(default_factory=dict)
    train: int = Field(300, ge=2)
    test: int = Field(300, ge=1)
    seed: int = 1
    prompt_template: str = "{question}\n\nPlease provide the final answer at the end, after 'Final Answer:'"


PAPER_PROXY_DEFAULTS = {"n": 100, "validation": 100, "seed": 0}  # a ``paper_proxy`` selector's params unless given


class SelectorSpec(BaseModel):
    """One selector. ``scorer``: a stylefit scorer with its ``params``, on the first ``n_select``
    questions; ``random``: no information (every strategy tied: its expected figures);
    ``paper_proxy``: the paper's train-then-test proxy, a short fine-tune on the first ``params.n``
    (default 100) questions of each strategy, one seed, judged by accuracy on ``params.validation``
    (default 100) held-out *training* questions (never the test split); ``adaptive``: the adaptive
    selector (``stylefit.selection.adaptive``, ``params`` are its settings), ranked by its order."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:=-]*$")
    scorer: str
    params: dict[str, Any] = Field(default_factory=dict)


class CaseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    task: str | ReasoningGymTask
    target: str
    strategies: list[str] = Field(min_length=2)
    recipes: list[str] = Field(default_factory=list)
    teachers: dict[str, str] = Field(default_factory=dict)
    n_train: int = Field(200, ge=2)
    n_test: int | None = Field(None, ge=1)
    seeds: list[int] | None = None
    # the track's recipe and eval settings with these keys changed for this case (a task whose training
    # targets run long needs a longer evaluation budget, and a longer max_length)
    recipe: dict[str, Any] = Field(default_factory=dict)
    eval: dict[str, Any] = Field(default_factory=dict)
    # cpu | cuda: every ground-truth run of the case is made on this kind of device and keyed by it, so
    # that runs of one case never mix devices (None: wherever the track runs, unbound)
    device: Literal["cpu", "cuda"] | None = None
    # per-question routing sets (routed:<scorer>) made from the strategies: trained and reported
    # beside them, never ranked by the selectors
    routed: list[str] = Field(default_factory=list)
    # the prompt template the selectors score in: "plain" for a base model without a chat template
    # (Gemma-3-270M), given to every selector that takes a template unless it names its own
    template: Literal["native", "plain"] = "native"

    @property
    def routed_sets(self) -> list[str]:
        from stylefit.data.candidates import ROUTED_PREFIX

        return [f"{ROUTED_PREFIX}{scorer}" for scorer in self.routed]


class LiveConfig(BaseModel):
    """The schema of a live-track config."""

    model_config = ConfigDict(extra="forbid")
    results: str = "live"
    n_select: int = Field(50, ge=2)
    seeds: list[int] = Field(default_factory=lambda: [0, 1], min_length=1)
    recipe: dict[str, Any] = Field(default_factory=dict)
    eval: dict[str, Any] = Field(default_factory=dict)
    # the compute type of the runs (part of their keys), the scorers and the teachers: "float32"
    # makes work done on a GPU the work done on a CPU, and lets runs made there join those made here
    # (auto would mean bf16 on a GPU)
    dtype: str = "auto"
    # evaluation budgets (eval.max_new_tokens) the track ran with before: a committed run that none of
    # its answers reached is taken over under the larger budget instead of being run again
    earlier_eval_budgets: list[int] = Field(default_factory=list)
    # recipe max_lengths the track's runs were made with before: a committed run that skipped no
    # training example is the same run under a larger one (the limit is only checked), and is kept
    earlier_max_lengths: list[int] = Field(default_factory=list)
    selectors: list[SelectorSpec]
    cases: list[CaseConfig] = Field(min_length=1)
    # the pre-registration (issue 25) whose commit decides which cases are pre-registered (None: every
    # case is a development case)
    preregistration: str | None = None
    # how `stylefit run`'s default follows the pre-registered cases (default_rule.py; None: no rule)
    default_rule: str | None = None
    # a departure from the rule's verdict, chosen after the results were seen (default_rule.Deviation)
    default_deviation: str | None = None
    source: str = Field("<memory>", exclude=True)

    @model_validator(mode="after")
    def _distinct(self) -> "LiveConfig":
        for what, names in (("case", [c.name for c in self.cases]), ("selector", [s.name for s in self.selectors])):
            if len(set(names)) != len(names):
                raise ValueError(f"{what} names must be distinct: {names}")
        return self

    def path(self, value: str) -> Path:
        return config_path(self.source, value)


def load_live_config(path: str | Path) -> LiveConfig:
    config = read_config(path, LiveConfig, "live-track config")
    require_inputs(config.source, [(f"cases.{c.name}.task", c.task) for c in config.cases if isinstance(c.task, str)]
                   + [(f"cases.{c.name}.recipes", r) for c in config.cases for r in c.recipes]
                   + ([("preregistration", config.preregistration)] if config.preregistration else []))
    return config


def write_reasoning_gym_task(spec: ReasoningGymTask, name: str, folder: Path) -> Path:
    """A task folder from a reasoning-gym generator: distinct questions, test disjoint from train."""
    import reasoning_gym

    size = spec.train + spec.test
    seen: set[str] = set()
    rows = []
    try:
        dataset = reasoning_gym.create_dataset(spec.reasoning_gym, size=size * 3, seed=spec.seed, **spec.config)
    except Exception as e:  # reasoning-gym raises plain errors for unknown names and bad configs
        raise StylefitError(f"reasoning_gym '{spec.reasoning_gym}': {type(e).__name__}: {e}") from None
    for entry in dataset:
        if entry["question"] in seen:
            continue
        seen.add(entry["question"])
        rows.append(entry)
        if len(rows) == size:
            break
    if len(rows) < size:
        raise StylefitError(f"reasoning_gym '{spec.reasoning_gym}' gave only {len(rows)} distinct questions of the {size} asked")
    as_row = lambda i, e, split: {"id": f"{split}-{i}", "question": e["question"], "gold": str(e["answer"]),
                                  "metadata": e["metadata"]}
    write_jsonl(folder / "train.jsonl", [as_row(i, e, "train") for i, e in enumerate(rows[: spec.train])])
    write_jsonl(folder / "test.jsonl", [as_row(i, e, "test") for i, e in enumerate(rows[spec.train :])])
    task = {"name": name, "verifier": "reasoning_gym", "prompt_template": spec.prompt_template,
            "train": "train.jsonl", "test": "test.jsonl"}
    write_atomic(folder / "task.json", json.dumps(task, indent=2) + "\n")
    return folder


def case_task_path(config: LiveConfig, case: CaseConfig) -> Path:
    """The case's task folder: its own, or for a reasoning-gym task the one written (once) under its results."""
    if not isinstance(case.task, ReasoningGymTask):
        return config.path(case.task)
    path = config.path(config.results) / case.name / "task"
    if not (path / "task.json").is_file():
        write_reasoning_gym_task(case.task, case.name, path)
    return path
