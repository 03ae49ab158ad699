"""The live track: does familiarity predict the fine-tuned outcome on models we run ourselves?

``stylefit bench live CONFIG`` runs, per case (one task, one target):

1. **candidates**: every strategy writes the first ``n_train`` training questions' targets
   (``stylefit generate``);
2. **selectors**: every selector scores the same first ``n_select`` questions (``stylefit select``);
   they run first because they are cheap and never see the ground truth;
3. **ground truth**: the target is fine-tuned on each strategy with every seed and evaluated on
   the first ``n_test`` test questions (``stylefit verify``, one recipe for the whole case);
4. **judging**: each selector's preference against the strategies' mean accuracies, with the
   paper track's selection-quality figures (``selection.quality``); over every judged case, and
   apart over the pre-registered cases (those whose runs all follow the registration named by
   ``preregistration``, read from git: ``bench.live.preregistration``) and the development ones.

What a task must give: a folder with ``task.json``, a verifier, and train and test splits (or a
``reasoning_gym`` generator from which such a folder is written into the results).

Everything lands in the results folder as it finishes, in plain files meant to be committed:
``<case>/task/`` (when generated), ``<case>/candidates/``, ``<case>/runs/<run key>.json`` (one
per fine-tuning run: accuracy, training record, every test item's output) and
``<case>/scores/<selector>.json`` (every per-example score). A rerun, on this machine or a fresh
one, reads them back first and computes only what is missing; a selector added later is judged
on the whole track without retraining anything.
"""

from __future__ import annotations

import hashlib
import json
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stylefit.bench.live.preregistration import AS_REGISTERED, Registration
from stylefit.core.config_file import config_path, first_error, read_config, require_inputs
from stylefit.core.errors import StylefitError
from stylefit.core.store import Store
from stylefit.data.jsonl import write_atomic, write_jsonl
from stylefit.training.grid import RUN_KIND, GridPlan
from stylefit.training.runs import device_kind
from stylefit.training.summary import cut_bounds, cut_flagged, pairs_that_could_swap


class ReasoningGymTask(BaseModel):
    """A task written from a reasoning-gym generator: disjoint train and test questions."""

    model_config = ConfigDict(extra="forbid")
    reasoning_gym: str
    config: dict[str, Any] = Field(default_factory=dict)
    train: int = Field(300, ge=2)
    test: int = Field(300, ge=1)
    seed: int = 1
    prompt_template: str = "{question}\n\nPlease provide the final answer at the end, after 'Final Answer:'"


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


class SeasonCase(BaseModel):
    """What every pre-registered case must have."""

    model_config = ConfigDict(extra="forbid")
    min_strategies: int = Field(ge=2)
    min_seeds: int = Field(ge=1)
    min_test_questions: int = Field(ge=1)


class SeasonJudging(BaseModel):
    """How the season is judged: the one figure, its case weights, the recommended selector first."""

    model_config = ConfigDict(extra="forbid")
    figure: Literal["weighted_spearman"]
    case_weights: Literal["sigma"]
    recommended_first: bool


class Season(BaseModel):
    """What the season must hold (issue 25), as numbers the judge reports against."""

    model_config = ConfigDict(extra="forbid")
    min_judged_cases: int = Field(ge=1)
    min_new_cases: int = Field(ge=1)
    min_task_families: int = Field(ge=1)
    min_non_arithmetic_families: int = Field(ge=0)
    min_targets: int = Field(ge=1)
    min_cases_without_programmatic_solution: int = Field(ge=0)
    min_cases_target_answers_nothing: int = Field(ge=0)
    answers_nothing_below: float = Field(ge=0, le=1)
    per_case: SeasonCase
    judging: SeasonJudging


class Preregistration(BaseModel):
    """The schema of a pre-registration: the selectors to judge, with every parameter, the one
    recommended, and what the season must hold."""

    model_config = ConfigDict(extra="forbid")
    recommended: str
    selectors: list[SelectorSpec] = Field(min_length=1)
    season: Season

    @model_validator(mode="after")
    def _known(self) -> "Preregistration":
        names = [s.name for s in self.selectors]
        if len(set(names)) != len(names):
            raise ValueError(f"selector names must be distinct: {names}")
        if self.recommended not in names:
            raise ValueError(f"recommended: '{self.recommended}' is not among the selectors ({', '.join(names)})")
        return self


class CommittedRuns(Store):
    """The results store, mirrored into one JSON file per fine-tuning run in ``folder``: files
    found there are loaded first (so a fresh machine resumes from what was committed), and every
    run the grid finishes is written there as it finishes."""

    def __init__(self, path: str | Path | None, folder: Path, say: Callable[[str], None] = lambda line: None):
        super().__init__(path)
        self.folder = folder
        self.say = say  # a line per run written: a long grid in a log shows where it stands
        loaded = {}
        for file in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                loaded[file.stem] = json.loads(file.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise StylefitError(f"{file}: not valid JSON ({e.msg}); remove it to run it again") from None
        stored = self.present(loaded)
        if len(stored) < len(loaded):  # runs made elsewhere (another machine, a GPU) join this store
            super().put_many(RUN_KIND, {k: v for k, v in loaded.items() if k not in stored})

    def put_many(self, kind: str, items: dict[str, Any]) -> None:
        super().put_many(kind, items)
        if kind == RUN_KIND:
            for key, value in items.items():
                write_atomic(self.folder / f"{key}.json", json.dumps(value, indent=1, ensure_ascii=False) + "\n")
                reused = value.get("reused")
                copied = reused and reused.get("strategy")  # another strategy's run, whose file stays
                if reused and not copied:  # the same run under a larger budget: its file replaces the earlier one
                    (self.folder / f"{reused['key']}.json").unlink(missing_ok=True)
                how = (f"the run of {copied} (the same training examples)" if copied else "taken over" if reused else "stored")
                e = value["evaluation"]
                self.say(f"{value['label']}: {how}, accuracy {100 * e['accuracy_strict']:.1f}%, "
                         f"{e['hit_length_limit']} of {e['n']} answers cut, {value['timings'].get('total_s', 0) / 60:.1f} min on {value['device']}")


def planned(case: str, folder: Path, plan: GridPlan, say: Callable[[str], None]) -> None:
    """Say a case's plan, and prune its superseded runs before any new one runs: a grid stopped
    halfway leaves the folder with runs of the current settings only (one per strategy and seed)."""
    say(f"{case}: {plan.line()}")
    if removed := prune(folder, set(plan.keys)):
        say(f"{case}: removed {removed} superseded run file(s) (the case's settings or candidates changed; git keeps them)")


def prune(folder: Path, keys: set[str]) -> int:
    """Remove the run files in ``folder`` that the case's current grid no longer asks for: the folder
    holds the runs of the settings it is judged on, never two runs of one strategy and seed."""
    stale = [f for f in folder.glob("*.json") if f.stem not in keys]
    for f in stale:
        f.unlink()
    return len(stale)


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


def run_live(
    config: LiveConfig | str | Path,
    *,
    cases: list[str] | None = None,
    stages: tuple[str, ...] = ("candidates", "truth", "selectors"),
    store: str | Path | None = None,
    selectors: list[str] | None = None,
    workers: int = 1,
    load_model: Callable | None = None,
    say: Callable[[str], None] = lambda line: None,
    progress=None,
) -> dict[str, Any]:
    """Run (or resume) the track and judge every selector; returns the judged track (see ``judge``).

    ``load_model`` maps a teacher's name to a loaded model (default: ``stylefit.models.load_model``);
    a case's ``teachers`` table renames teachers first. ``selectors``: run only these (default all);
    ``workers``: fine-tuning runs at once in processes here."""
    from stylefit.api import generate, select
    from stylefit.data.task import load_task
    from stylefit.models.device import resolve_device
    from stylefit.training import verify

    config = config if isinstance(config, LiveConfig) else load_live_config(config)
    root = config.path(config.results)
    chosen = [c for c in config.cases if cases is None or c.name in cases]
    if cases is not None and (unknown := sorted(set(cases) - {c.name for c in config.cases})):
        raise StylefitError(f"unknown case '{unknown[0]}' (known: {', '.join(c.name for c in config.cases)})")
    specs = [s for s in config.selectors if selectors is None or s.name in selectors]
    if selectors is not None and (unknown := sorted(set(selectors) - {s.name for s in config.selectors})):
        raise StylefitError(f"unknown selector '{unknown[0]}' (known: {', '.join(s.name for s in config.selectors)})")
    for case in chosen:
        folder = root / case.name
        task = load_task(case_task_path(config, case))
        if not task.test:
            raise StylefitError(f"case '{case.name}': task '{task.name}' has no test split, and the ground truth needs one")
        _ = task.verifier
        recipes = [config.path(r) for r in case.recipes]
        files = [folder / "candidates" / f"{s}.jsonl" for s in case.strategies]
        routed_files = [folder / "candidates" / f"{s}.jsonl" for s in case.routed_sets]

        if "candidates" in stages:
            say(f"{case.name}: candidates ({len(case.strategies)} strategies x {case.n_train} questions)")
            if load_model is None:
                from stylefit.models import SERVER_PREFIX, load_model as load

                load_model = lambda name: load(name, **({} if name.startswith(SERVER_PREFIX) else {"dtype": config.dtype}))
            generate(task, case.strategies + case.routed_sets, out=folder / "candidates", n=case.n_train, target=case.target, recipes=recipes,
                     load_model=lambda name: load_model(case.teachers.get(name, name)), store=store, progress=progress)
        # Selectors before the ground truth: they are cheap, and they never see it.
        if "selectors" in stages:
            for spec in specs:
                out = folder / "scores" / f"{spec.name}.json"
                asked = _asked(config, case, spec)
                if spec.scorer == "random" or (out.is_file() and json.loads(out.read_text(encoding="utf-8")).get("asked") == asked):
                    continue
                say(f"{case.name}: selector {spec.name}")
                t = time.perf_counter()
                if spec.scorer == "paper_proxy":
                    data = _paper_proxy(config, case, task, files, spec, folder, store, progress, workers)
                elif spec.scorer == "adaptive":
                    data = _adaptive(config, case, spec, store, progress, workers)
                else:
                    result = select(task, files, target=case.target, scorer=spec.scorer, scorer_params=asked["params"],
                                    n=config.n_select, store=store, dtype=config.dtype, progress=progress)
                    data = {"means": {e.strategy: e.mean for e in result.ranking.estimates},
                            "higher_is_better": result.higher_is_better, "selection": result.to_dict()}
                data = {"selector": spec.name, "asked": asked, "seconds": round(time.perf_counter() - t, 1),
                        "device": resolve_device("auto")} | data
                write_atomic(out, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        if "truth" in stages:
            say(f"{case.name}: ground truth (fine-tuning on every strategy, seeds {case.seeds or config.seeds})")
            if case.device is not None and (here := device_kind(resolve_device("auto"))) != case.device:
                raise StylefitError(f"case '{case.name}': its runs are bound to {case.device}, and this machine runs on {here}")
            # a budget that would cut answers written like the training targets is refused before any run
            try:
                verify(task, files + routed_files, targets=case.target, seeds=case.seeds or config.seeds,
                       recipe=config.recipe | case.recipe, eval_settings=config.eval | case.eval, n_train=case.n_train,
                       n_test=case.n_test, base=True, dtype=config.dtype, workers=workers,
                       store=CommittedRuns(store, folder / "runs", say), progress=progress,
                       earlier_budgets=config.earlier_eval_budgets,
                       earlier_max_lengths=config.earlier_max_lengths, device=case.device or "auto", require_eval_budget=True,
                       bind_device=case.device is not None, on_plan=lambda plan: planned(case.name, folder / "runs", plan, say))
            except StylefitError as e:
                raise StylefitError(f"case '{case.name}': {e}") from None
    return judge(config)


def selector_params(config: LiveConfig, case: CaseConfig, spec: SelectorSpec) -> dict[str, Any]:
    """The selector's parameters on this case: the registered ones, with the case's template given to a
    scorer (or the adaptive selector's screen) that takes one and does not name its own (scorers without
    a template parameter already score in the target's own template), and a fine-tuning proxy's
    ``max_length`` raised to the case's where it refuses a training example (``proxy_length_guard``)."""
    from stylefit.scoring import template_parameter

    if spec.scorer == "proxy":
        return proxy_length_guard(config, case, spec.params)
    if case.template == "native":
        return spec.params
    if spec.scorer == "adaptive":
        from stylefit.selection.adaptive import AdaptiveSettings

        screen = AdaptiveSettings.model_validate(spec.params).screen
        key, own = template_parameter(screen), spec.params.get("screen_params", {})
        return spec.params if key is None or key in own else spec.params | {"screen_params": own | {key: case.template}}
    key = template_parameter(spec.scorer)
    return spec.params if key is None or key in spec.params else spec.params | {key: case.template}


def proxy_length_guard(config: LiveConfig, case: CaseConfig, params: dict[str, Any]) -> dict[str, Any]:
    """A ``proxy`` selector's parameters on this case: as given, unless their recipe's max_length refuses
    one of the training examples the proxy fine-tunes on (the case's first n_select questions), where the
    case's own, larger max_length is used instead. The limit is only checked, never given to the trainer:
    where it refuses nothing it changes nothing, and where it refuses an example the selector cannot run."""
    from stylefit.data.candidates import load_candidates
    from stylefit.data.task import load_task
    from stylefit.training.plan import plan_runs
    from stylefit.training.recipe import Recipe
    from stylefit.training.verify import over_long

    recipe = params.get("recipe", {})
    limit, case_limit = Recipe(**recipe).max_length, Recipe(**(config.recipe | case.recipe)).max_length
    folder = config.path(config.results) / case.name / "candidates"
    files = [folder / f"{s}.jsonl" for s in case.strategies]
    if case_limit <= limit or not all(f.is_file() for f in files):
        return params
    task = load_task(case_task_path(config, case))
    specs = plan_runs(task, load_candidates(task, files), case.target, strategies=case.strategies, seeds=[0],
                      n_train=config.n_select, recipe=Recipe(**recipe), base=False)
    return params if over_long(specs) is None else params | {"recipe": recipe | {"max_length": case_limit}}


def _asked(config: LiveConfig, case: CaseConfig, spec: SelectorSpec) -> dict[str, Any]:
    """What a selector's scores depend on: a scores file for other settings, or for candidate
    sets that were written again since, is stale."""
    folder = config.path(config.results) / case.name / "candidates"
    asked = {"scorer": spec.scorer, "params": selector_params(config, case, spec), "n_select": config.n_select, "target": case.target,
             "strategies": case.strategies, "candidates": _files_hash([folder / f"{s}.jsonl" for s in case.strategies])}
    if spec.scorer == "paper_proxy":  # it fine-tunes and evaluates with the case's settings
        asked |= {"recipe": config.recipe | case.recipe, "eval": config.eval | case.eval}
    if spec.scorer == "adaptive":  # its rounds fine-tune with the track's recipe
        asked |= {"recipe": proxy_rounds_recipe(config, case), "dtype": config.dtype}
    return asked


def _files_hash(paths: list[Path]) -> str | None:
    """The candidate files' content (None while any is missing)."""
    digest = hashlib.sha256()
    for path in paths:
        if not path.is_file():
            return None
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _paper_proxy(config: LiveConfig, case: CaseConfig, task, files, spec: SelectorSpec, folder: Path, store, progress,
                 workers: int = 1) -> dict:
    """The paper's train-then-test proxy: fine-tune on n questions per strategy (beyond the N scored,
    so not the ``proxy`` scorer), test on training questions outside the case's n_train."""
    from stylefit.data.task import Task
    from stylefit.training import verify

    params = {"n": 100, "validation": 100, "seed": 0} | spec.params
    if unknown := sorted(set(params) - {"n", "validation", "seed"}):
        raise StylefitError(f"selector '{spec.name}': unknown proxy parameter '{unknown[0]}' (known: n, validation, seed)")
    held_out = task.train[case.n_train : case.n_train + params["validation"]]
    if len(held_out) < params["validation"]:
        raise StylefitError(f"selector '{spec.name}': case '{case.name}' has {len(held_out)} training questions beyond "
                            f"n_train={case.n_train}, and the proxy validates on {params['validation']}")
    proxy_task = Task(f"{task.name}-proxy", task.prompt_template, task.train, held_out, task.verifier_name, task.source)
    result = verify(proxy_task, files, targets=case.target, seeds=[params["seed"]], recipe=config.recipe | case.recipe,
                    eval_settings=config.eval | case.eval, n_train=params["n"], base=False, dtype=config.dtype, workers=workers,
                    store=CommittedRuns(store, folder / "proxy_runs"), progress=progress,
                    earlier_budgets=config.earlier_eval_budgets, earlier_max_lengths=config.earlier_max_lengths)
    # its cost is its fine-tunes' wherever they ran (scoring again from committed runs costs nothing)
    devices = sorted({device_kind(r.device) for r in result.runs})
    return {"means": {s.strategy: s.mean for s in result.cases[0].strategies}, "higher_is_better": True,
            "params": params, "validation_ids": [q.id for q in held_out],
            "seconds": round(sum(r.timings.get("total_s", 0.0) for r in result.runs), 1), "device": " and ".join(devices)}


def proxy_rounds_recipe(config: LiveConfig, case: CaseConfig) -> dict[str, Any]:
    """The recipe the adaptive selector's proxy rounds fine-tune with on a case: the track's, without
    its epochs (each round sets its own); the track and benchmarks/adaptive_live.py both use it."""
    return {k: v for k, v in (config.recipe | case.recipe).items() if k != "epochs"}


def _adaptive(config: LiveConfig, case: CaseConfig, spec: SelectorSpec, store, progress, workers: int = 1) -> dict:
    """The adaptive selector (issue 24) on the case's first n_select questions, without a step budget:
    its committed result (``adaptive_result``, shared with benchmarks/adaptive_live.py) or a new one.
    Its preference is its order (survivors, then the later dropped, ties shared); its cost is its
    fine-tunes' and screen's wherever they ran."""
    result = adaptive_result(config, case, 0, spec.params, cache=store, workers=workers, progress=progress)
    return {"means": result["preference"], "higher_is_better": True, "seconds": round(result["cost"]["seconds"], 1),
            "device": result["device"], "adaptive": result}


# The adaptive selector's committed results: one file per case and step budget, which the track (budget 0)
# and benchmarks/adaptive_live.py (its budget curve) both read and write, so neither repeats the other's
# fine-tunes: <case>/adaptive/budget-<N>.json under the registered settings (adaptive-<hash> for any
# others, kept apart), and its fine-tunes under <case>/adaptive_runs/, which a fresh machine resumes from.
class OtherSettings(StylefitError):
    """A committed result made with other settings than those asked for: never read as theirs."""


def adaptive_results_dir(config: LiveConfig, case: CaseConfig, params: dict[str, Any]) -> Path:
    """Where the results under these settings (the registered ones when ``params`` is empty) are committed."""
    folder = config.path(config.results) / case.name
    return folder / ("adaptive" + (f"-{hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]}" if params else ""))


def adaptive_result(config: LiveConfig, case: CaseConfig, budget: int, params: dict[str, Any] | None = None, *,
                    cache: str | Path | None = None, workers: int = 1, device: str | None = None, rerun: bool = False,
                    progress=None) -> dict[str, Any]:
    """The selector's result on the case under ``budget`` fine-tune steps (0: none): read back when
    committed under the same settings, else run and committed. It runs on the case's bound device
    unless told otherwise (a selector's fine-tunes are not ground truth; their devices are recorded)."""
    from stylefit.data.task import load_task
    from stylefit.models.device import resolve_device
    from stylefit.selection.adaptive import AdaptiveSettings, select_adaptive
    from stylefit.training.runs import device_kind

    params = params or {}
    folder = config.path(config.results) / case.name
    settings = AdaptiveSettings(**{"dtype": config.dtype, "recipe": proxy_rounds_recipe(config, case)}
                                | selector_params(config, case, SelectorSpec(name="adaptive", scorer="adaptive", params=params))
                                | {"budget_steps": budget})
    file = adaptive_results_dir(config, case, params) / f"budget-{budget}.json"
    if file.is_file() and not rerun:
        data = json.loads(file.read_text(encoding="utf-8"))
        if data["settings"] != settings.model_dump(mode="json"):
            raise OtherSettings(f"{file}: made with other settings than these; remove it, or give adaptive_live.py --rerun, "
                                "to replace it")
        return data
    device = device or case.device or "auto"
    task = load_task(case_task_path(config, case))
    files = [folder / "candidates" / f"{s}.jsonl" for s in case.strategies]
    result = select_adaptive(task, files, target=case.target, device=device, dtype=config.dtype, settings=settings,
                             n=config.n_select, store=CommittedRuns(cache, folder / "adaptive_runs"), workers=workers,
                             progress=progress)
    runs = [json.loads(f.read_text(encoding="utf-8")) for f in (folder / "adaptive_runs").glob("*.json")]
    data = result.to_dict() | {"device": " and ".join(sorted({device_kind(r["device"]) for r in runs} | {device_kind(resolve_device(device))}))}
    write_atomic(file, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    return data


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


def _truth_done(config: LiveConfig, case: CaseConfig) -> str:
    """How far an incomplete case's ground truth is: its strategy runs committed of those it needs, and where they run."""
    seeds = case.seeds or config.seeds
    done = {(run.get("strategy"), run.get("seed")) for run in
            (json.loads(f.read_text(encoding="utf-8")) for f in (config.path(config.results) / case.name / "runs").glob("*.json"))}
    have = sum((s, seed) in done for s in case.strategies for seed in seeds)
    return (f"{have} of its {len(case.strategies) * len(seeds)} strategy runs committed"
            + (f"; bound to {case.device}" if case.device else ""))


def _cut_probes(folder: Path) -> list[dict[str, Any]]:
    """What ``benchmarks/live/cut_probe.py`` found for flagged runs: their cut answers again, with a larger budget."""
    return [{k: v for k, v in json.loads(path.read_text(encoding="utf-8")).items() if k != "items"}
            for path in sorted(folder.glob("*.json"))]


def _needing_solutions(folder: Path, strategies: list[str]) -> list[str] | None:
    """The case's strategies whose recipes (as its candidates' manifest recorded them) need the task's worked
    solutions: a user without a solution generator could not have written them. None without a manifest
    (candidate files written by other means): unknown."""
    from stylefit.strategies.recipe import Strategy

    if not (folder / "manifest.json").is_file():
        return None
    recorded = {m["strategy"]: m["recipe"] for m in json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["strategies"]}
    return [s for s in strategies if s in recorded and Strategy.model_validate(recorded[s]).uses_human_solution]


# reasoning-gym's own categories (its package layout) that count as arithmetic: issue 25 counts simple_equations as such
ARITHMETIC = ("arithmetic", "algebra")


def task_category(case: CaseConfig) -> str | None:
    """The case's task family's reasoning-gym category (arithmetic, algorithmic, graphs, ...); None for another source."""
    from reasoning_gym.factory import DATASETS

    name = case.task.reasoning_gym if isinstance(case.task, ReasoningGymTask) else Path(case.task).name
    return DATASETS[name][0].__module__.split(".")[1] if name in DATASETS else None


def _composition(folder: Path, name: str) -> dict[str, float]:
    from stylefit.data.candidates import ROUTING_SUFFIX

    path = folder / f"{name}{ROUTING_SUFFIX}"
    return json.loads(path.read_text(encoding="utf-8"))["composition"] if path.is_file() else {}


def _overlap(folder: Path, strategies: list[str]) -> dict[str, Any]:
    """Identical responses per pair of the case's strategies, and how many are distinct (``data.overlap``)."""
    from stylefit.data.overlap import file_responses, strategy_overlap

    return strategy_overlap(file_responses(folder, strategies)).to_dict()


REFERENCES = ("sppl", "ppl")  # paired differences are reported against these selectors, where configured


def judge(config: LiveConfig) -> dict[str, Any]:
    """Every selector against every case whose ground truth and scores are complete, from the committed files:
    over all of them (``figures``, ``paired``, ``paired_signs``), and in ``groups`` over the development
    and the pre-registered cases apart (each case's row says which, and why)."""
    from stylefit.selection.quality import accuracy_spread, evaluate

    root = config.path(config.results)
    registration = Registration(config.path(config.preregistration)) if config.preregistration else None
    cases, incomplete, sigma, sigma_if_right = [], [], [], []
    outcomes: dict[str, list] = {s.name: [] for s in config.selectors}
    if_right: dict[str, list] = {s.name: [] for s in config.selectors}  # every cut answer counted right: the bound
    for case in config.cases:
        truth, seconds, devices, cut = case_truth(config, case)
        if truth is None:
            incomplete.append(f"{case.name}: ground truth incomplete ({_truth_done(config, case)})")
            continue
        preregistered, why = (registration.case(sorted((root / case.name / "runs").glob("*.json")), root) if registration
                              else (False, "the track's config names no pre-registration"))
        accuracy = {s.strategy: s for s in truth.strategies}
        acc = np.array([accuracy[s].mean for s in case.strategies])
        bounds = cut_bounds([accuracy[s] for s in case.strategies], truth.n_test)
        acc_if_right = np.array([bounds[s][1] for s in case.strategies])
        preferences, selector_seconds, selector_devices, length_guard = {}, {}, {}, {}
        for spec in config.selectors:
            file = root / case.name / "scores" / f"{spec.name}.json"
            if spec.scorer == "random":
                preferences[spec.name] = np.zeros(len(case.strategies))
            elif file.is_file() and (data := json.loads(file.read_text(encoding="utf-8"))).get("asked") == _asked(config, case, spec):
                sign = 1.0 if data["higher_is_better"] else -1.0
                preferences[spec.name] = sign * np.array([data["means"][s] for s in case.strategies])
                selector_seconds[spec.name] = data["seconds"]
                selector_devices[spec.name] = data["device"]
                # a proxy whose max_length was raised to the case's (proxy_length_guard): registered and used
                registered = (spec.params.get("recipe") or {}).get("max_length")
                if spec.scorer == "proxy" and (used := data["asked"]["params"].get("recipe", {}).get("max_length")) != registered:
                    length_guard[spec.name] = [registered, used]
        row = {"case": case.name, "target": case.target} | ({"template": case.template} if case.template != "native" else {}) | {
               "preregistered": preregistered, "preregistration_reason": why,
               "n_test": truth.n_test, "seeds": case.seeds or config.seeds,
               "accuracy": {s: {"mean": accuracy[s].mean, "sd": accuracy[s].std, "per_seed": accuracy[s].accuracies,
                                "rank": accuracy[s].rank} for s in case.strategies},
               "routed": {s: {"mean": accuracy[s].mean, "sd": accuracy[s].std, "per_seed": accuracy[s].accuracies,
                              "composition": _composition(root / case.name / "candidates", s)}
                          for s in case.routed_sets if s in accuracy},
               "base": None if truth.base is None else truth.base.accuracy, "devices": devices,
               "cut": {run: n for run, (n, _) in cut.items()}, "looping": {run: loops for run, (_, loops) in cut.items() if loops},
               "recipe": config.recipe | case.recipe, "eval": config.eval | case.eval, "device": case.device,
               "cut_flagged": [run for run, (n, loops) in cut.items() if cut_flagged(n, truth.n_test, loops)],
               "cut_bound": {"strategies": {s: list(b) for s, b in bounds.items() if b != (accuracy[s].mean,) * 2},
                             "could_swap": pairs_that_could_swap({s: a.mean for s, a in accuracy.items()}, bounds)},
               "cut_probes": _cut_probes(root / case.name / "cut_probe"),
               "noise": vars(truth.noise), "sigma": accuracy_spread(acc), "run_seconds": seconds,
               # the strategies spread less than one run strays: judged and weighted by its σ all the same (registered)
               "sigma_below_noise": bool(accuracy_spread(acc) < truth.noise.run_sd),
               "selector_seconds": selector_seconds, "selector_devices": selector_devices,
               "picks": {name: [case.strategies[i] for i in np.flatnonzero(p == p.max())] for name, p in preferences.items()},
               "overlap": _overlap(root / case.name / "candidates", case.strategies),
               "needing_solutions": _needing_solutions(root / case.name / "candidates", case.strategies),
               "task_category": task_category(case), "length_guard": length_guard}
        kinds = sorted({device_kind(d) for d in devices.values()})
        if len(kinds) > 1:  # a GPU's answers differ from a CPU's in near ties: one case is judged on one kind
            incomplete.append(f"{case.name}: its runs were made on {' and '.join(kinds)}; bind the case to one (cases.device) "
                              "and run it again there")
        elif np.ptp(acc) == 0:
            incomplete.append(f"{case.name}: every strategy has the same accuracy, so it cannot judge a selector")
        elif len(preferences) < len(config.selectors):
            incomplete.append(f"{case.name}: selector scores incomplete ({len(preferences)}/{len(config.selectors)})")
        else:
            row["judged"] = True
            row["outcomes"] = {}
            for name, preference in preferences.items():
                outcomes[name].append(evaluate(preference, acc))
                row["outcomes"][name] = vars(outcomes[name][-1])
                if_right[name].append(evaluate(preference, acc_if_right))
            sigma.append(row["sigma"])
            sigma_if_right.append(accuracy_spread(acc_if_right))
            row["cut_bound"]["changes_if_right"] = {
                name: {"spearman": ours.spearman - theirs.spearman, "regret_points": ours.regret_points - theirs.regret_points}
                for name, ours, theirs in ((n, if_right[n][-1], outcomes[n][-1]) for n in preferences)
                if not np.array_equal([ours.spearman, ours.regret_points], [theirs.spearman, theirs.regret_points], equal_nan=True)}
        cases.append(row)
    prereg = load_preregistration(registration) if registration else None
    agreement = selector_agreement(config.selectors, prereg) if prereg else {}
    return {"n_select": config.n_select, "recipe": config.recipe, "eval": config.eval, "cases": cases,
            "judged_cases": len(sigma), "incomplete": incomplete} | _figures(outcomes, sigma) | {
            "outcomes": {name: [vars(o) for o in per_case] for name, per_case in outcomes.items()},
            # the most the cut answers could change: judged again with every one of them right
            "if_cut_answers_right": _figures(if_right, sigma_if_right)["figures"],
            "preregistration": None if prereg is None else {
                "file": config.preregistration, "registered": registration.commit is not None,
                "reason": registration.reason or "committed: a case whose run files all follow its first commit is pre-registered",
                "changed_since_registration": registration.changed, "recommended": prereg.recommended,
                "selectors": agreement, "season": season_progress(prereg.season, config, cases)},
            "groups": _groups(config, prereg, agreement, outcomes, sigma, [row for row in cases if row.get("judged")]),
            "default_rule": _default_verdict(config, agreement, outcomes, sigma, [row for row in cases if row.get("judged")])}


def _default_verdict(config: LiveConfig, agreement: dict[str, str], outcomes: dict[str, list], sigma: list[float],
                     judged: list[dict]) -> dict[str, Any] | None:
    """The default rule, as committed, applied to the pre-registered cases (None: the track names no rule)."""
    from stylefit.bench.live.default_rule import load_rule, verdict

    if config.default_rule is None:
        return None
    committed = Registration(config.path(config.default_rule))
    rule = load_rule(committed.text, f"{config.default_rule}" + (" (as committed)" if committed.commit else ""))
    chosen = [i for i, row in enumerate(judged) if row["preregistered"]]
    registered = {name for name, how in agreement.items() if how == AS_REGISTERED}
    return {"file": config.default_rule, "committed": committed.commit, "changed_since": committed.changed} | verdict(
        rule, {name: [outcomes[name][i] for i in chosen] for name in registered}, [sigma[i] for i in chosen], registered)



def load_preregistration(registration: Registration) -> Preregistration:
    """The pre-registration as registered (its text at its first commit; the file itself until it is committed)."""
    where = f"{registration.path}" + (" (as registered)" if registration.commit else "")
    try:
        return Preregistration.model_validate(tomllib.loads(registration.text))
    except tomllib.TOMLDecodeError as e:
        raise StylefitError(f"{where}: not valid TOML ({e})") from None
    except ValidationError as e:
        raise StylefitError(f"{where}: {first_error(e)}") from None


def selector_agreement(judged: list[SelectorSpec], prereg: Preregistration) -> dict[str, str]:
    """Every registered or judged selector -> AS_REGISTERED when the track judges it with its registered
    scorer and parameters, else why it is left out of the pre-registered figures."""
    track = {spec.name: spec for spec in judged}
    agreement = {}
    for spec in prereg.selectors:
        mine = track.get(spec.name)
        if mine is None:
            agreement[spec.name] = "registered, not among the track's selectors: not judged"
        elif (mine.scorer, _settings(mine)) != (spec.scorer, _settings(spec)):
            agreement[spec.name] = (f"its settings differ from the registration (registered: {spec.scorer} {spec.params}; the track's: "
                                    f"{mine.scorer} {mine.params}): left out of the pre-registered figures")
        else:
            agreement[spec.name] = AS_REGISTERED
    registered = {spec.name for spec in prereg.selectors}
    return agreement | {name: "not registered: left out of the pre-registered figures" for name in track if name not in registered}


def _settings(spec: SelectorSpec) -> dict[str, Any]:
    """A selector's parameters as it runs with them: the adaptive selector's with its (pre-registered) defaults filled in."""
    if spec.scorer != "adaptive":
        return spec.params
    from stylefit.selection.adaptive import AdaptiveSettings

    try:
        return AdaptiveSettings.model_validate(spec.params).model_dump(mode="json")
    except ValidationError as e:
        raise StylefitError(f"selector '{spec.name}': {first_error(e, 'params.')}") from None


def _groups(config: LiveConfig, prereg: Preregistration | None, agreement: dict[str, str], outcomes: dict[str, list],
            sigma: list[float], judged: list[dict]) -> dict[str, dict]:
    """The development cases and the pre-registered ones, each judged on its own; the pre-registered
    ones only by the selectors judged as registered, the recommended one first."""
    order = [] if prereg is None else [prereg.recommended] + [s.name for s in prereg.selectors if s.name != prereg.recommended]
    registered = [name for name in order if agreement.get(name) == AS_REGISTERED]
    return {"development": _group(outcomes, sigma, judged, lambda row: not row["preregistered"], [s.name for s in config.selectors],
                                  "no judged development case"),
            "preregistered": _group(outcomes, sigma, judged, lambda row: row["preregistered"], registered,
                                    "no judged case's run files all follow the registration's commit" if registered
                                    else "no selector is judged by the track as it was registered")}


def season_progress(season: Season, config: LiveConfig, rows: list[dict]) -> list[dict[str, Any]]:
    """Each of the season's requirements: what it asks, what the judged cases have (None: a config cannot
    show it), and whether it is met."""
    judged = [row for row in rows if row.get("judged")]
    new = [row for row in judged if row["preregistered"]]
    tasks = {c.name: c.task.reasoning_gym if isinstance(c.task, ReasoningGymTask) else Path(c.task).name for c in config.cases}
    each = season.per_case
    # strategies counted as distinct (pairs writing the same response to 90% of the questions are one, as the
    # report counts them): the stricter reading of the registration's "strategies", chosen before any judging
    distinct = lambda row: row["overlap"]["distinct"] if "overlap" in row else len(row["accuracy"])
    short = [row["case"] for row in new if distinct(row) < each.min_strategies or len(row["seeds"]) < each.min_seeds
             or row["n_test"] < each.min_test_questions]
    asked = [("judged cases in all", season.min_judged_cases, len(judged)),
             ("judged pre-registered cases", season.min_new_cases, len(new)),
             ("task families among the judged cases", season.min_task_families, len({tasks[row["case"]] for row in judged})),
             ("non-arithmetic task families (by reasoning-gym's categories)", season.min_non_arithmetic_families,
              len({tasks[row["case"]] for row in judged if row["task_category"] not in (None, *ARITHMETIC)})),
             ("targets among the judged cases", season.min_targets, len({row["target"] for row in judged})),
             ("cases without a programmatic solution strategy", season.min_cases_without_programmatic_solution,
              sum(row["needing_solutions"] == [] for row in judged)),
             (f"judged cases whose target answers (almost) nothing zero-shot (base model under {100 * season.answers_nothing_below:g}%)",
              season.min_cases_target_answers_nothing,
              sum(row["base"] is not None and row["base"] < season.answers_nothing_below for row in judged))]
    progress = [{"requirement": what, "required": required, "have": have, "met": None if have is None else have >= required}
                for what, required, have in asked]
    return progress + [{"requirement": f"judged pre-registered cases with at least {each.min_strategies} distinct strategies, {each.min_seeds} "
                                       f"seeds and {each.min_test_questions} test questions", "required": len(new),
                        "have": len(new) - len(short), "met": not short, "short": short}]


def _figures(outcomes: dict[str, list], sigma: list[float]) -> dict[str, Any]:
    """Every selector's figures over the same cases, and its paired differences to each of REFERENCES
    it is judged beside, with the cases each way."""
    from stylefit.selection.quality import difference, summarize_many, win_tie_loss

    figures, paired, signs = {}, {}, {}
    if sigma:
        figures = summarize_many(outcomes, sigma)
        for reference in (r for r in REFERENCES if r in outcomes):
            diffs = {name: [difference(a, b) for a, b in zip(per_case, outcomes[reference])]
                     for name, per_case in outcomes.items() if name != reference}
            paired[reference] = summarize_many(diffs, sigma)
            # With a handful of cases a bootstrap interval says little: how many cases each way, and a sign test.
            signs[reference] = {name: {"spearman": vars(win_tie_loss([d.spearman for d in per_case])),
                                       "top1_accuracy": vars(win_tie_loss([d.top1_accuracy for d in per_case]))}
                                for name, per_case in diffs.items()}
    as_dict = lambda table: {name: {figure: vars(i) for figure, i in row.items()} for name, row in table.items()}
    return {"figures": as_dict(figures), "paired": {ref: as_dict(table) for ref, table in paired.items()}, "paired_signs": signs}


def _group(outcomes: dict[str, list], sigma: list[float], judged: list[dict], member: Callable[[dict], bool],
           selectors: list[str], empty: str) -> dict[str, Any]:
    """The figures of ``selectors`` over the judged cases that ``member`` takes (judged on their own,
    as the whole track is); with none, ``empty`` says why and there are no figures."""
    chosen = [i for i, row in enumerate(judged) if member(row)]
    group = {"cases": [judged[i]["case"] for i in chosen], "judged_cases": len(chosen), "selectors": selectors}
    if not chosen or not selectors:
        return group | {"note": empty, "figures": {}, "paired": {}, "paired_signs": {}}
    return group | _figures({name: [outcomes[name][i] for i in chosen] for name in selectors}, [sigma[i] for i in chosen])
