"""``stylefit run CONFIG``: the whole loop the method implies, from one TOML file.

1. generate a small sample (N questions) with every strategy;
2. rank the strategies by familiarity to the target (``select``);
3. generate the full training set with the winner, or with the top two when the ranking does not
   separate them (or with every strategy tied for first);
4. optionally fine-tune on the winner(s) and on a named baseline strategy, and compare (``verify``).

A config::

    task = "examples/chain_sum"          # paths are relative to the config file
    target = "smollm2-135m-instruct"
    strategies = ["self_corrected", "worked_steps", "verbose_steps", "answer_only"]
    recipes = ["strategies.toml"]       # extra [strategy.<name>] recipes (optional)
    n = 50                              # the sample per strategy
    full_size = 200                     # the training set (default: every training question)
    scorer = "sppl"
    [teachers]                          # optional: run a recipe's teacher on another model or a server
    "qwen2.5-coder-0.5b-instruct" = "openai:qwen@http://127.0.0.1:8080/v1"
    [verify]                            # optional
    baseline = "answer_only"
    seeds = [0, 1]

Every expensive step goes through the content-addressed cache (generations, scores, fine-tuning
runs), so a killed run resumes where it stopped and a finished one reruns in seconds. The output
folder holds everything: ``sample/`` and ``full/`` (candidates and their generation manifests),
``selection.json``, the training set as chat JSONL (``training_set.jsonl``, or one
``training_set.<strategy>.jsonl`` per winner when there are several), ``verify.json`` when asked,
``manifest.json`` (config, versions, decisions, timings) and ``summary.md``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stylefit.core.config_file import config_path, first_error, read_config, require_inputs
from stylefit.core.errors import StylefitError
from stylefit.data.candidates import wrong_unfixed
from stylefit.data.jsonl import read_jsonl, write_atomic, write_jsonl
from stylefit.data.task import load_task
from stylefit.models.registry import DEFAULT_MODEL

StageProgress = Callable[..., None]


class VerifySettings(BaseModel):
    """Fine-tune on the winner(s) and on ``baseline``; evaluate on the task's test split."""

    model_config = ConfigDict(extra="forbid")
    baseline: str
    seeds: list[int] = Field(default_factory=lambda: [0, 1], min_length=1)
    recipe: dict[str, Any] = Field(default_factory=dict, description="training recipe fields (see stylefit verify)")
    n_test: int | None = Field(None, ge=1)
    max_new_tokens: int = Field(256, ge=1)
    metric: Literal["strict", "flexible"] = "strict"
    base: bool = True


# The selector `stylefit run` decides with by default: the live track's default rule (benchmarks/live/default_rule.toml)
# replaced the adaptive selector, and a deviation from its pick (default_deviation.toml) names proxy-paper: the proxy
# scorer fine-tuned on 100 examples per strategy with the track's recipe, in float32, validated on 100 held-out
# training questions. tests/test_default_rule.py holds these to the committed verdict.
DEFAULT_SCORER = "proxy"
DEFAULT_SCORER_N = 100
DEFAULT_SCORER_PARAMS = {"validation": 100, "seed": 0, "dtype": "float32",
                         "recipe": {"epochs": 2, "learning_rate": 1e-3, "batch_size": 8, "max_length": 512}}
SAMPLE_N = 50  # the sample per strategy for any other scorer


class RunConfig(BaseModel):
    """The schema of a ``stylefit run`` config."""

    model_config = ConfigDict(extra="forbid")
    task: str
    target: str = DEFAULT_MODEL
    strategies: list[str] = Field(min_length=2)
    recipes: list[str] = Field(default_factory=list)
    teachers: dict[str, str] = Field(default_factory=dict, description="a recipe's teacher name -> the model to run it on")
    n: int | None = Field(None, ge=2)  # None: DEFAULT_SCORER_N for the default scorer, else SAMPLE_N
    full_size: int | None = Field(None, ge=1)
    keep_wrong: bool = Field(False, description="put responses that stayed wrong (and were not fixed) in the training set")
    scorer: str = DEFAULT_SCORER
    scorer_params: dict[str, Any] | None = None  # None: DEFAULT_SCORER_PARAMS for the default scorer, else none
    sample_seed: int | None = None
    bootstrap: int = Field(2000, ge=100)
    retry_temperature: float = Field(0.7, gt=0)
    device: str = "auto"
    dtype: str = "auto"
    verify: VerifySettings | None = None
    source: str = Field("<memory>", exclude=True)  # the config file: relative paths are read from its folder

    @model_validator(mode="after")
    def _check(self) -> "RunConfig":
        if self.scorer_params is None:
            self.scorer_params = copy.deepcopy(DEFAULT_SCORER_PARAMS) if self.scorer == DEFAULT_SCORER else {}
        if self.n is None:
            self.n = DEFAULT_SCORER_N if self.scorer == DEFAULT_SCORER else SAMPLE_N
        if len(set(self.strategies)) != len(self.strategies):
            raise ValueError(f"strategies are given twice: {self.strategies}")
        if self.full_size is not None and self.full_size < self.n:
            raise ValueError(f"full_size={self.full_size} is smaller than the sample n={self.n}")
        return self

    def path(self, value: str) -> Path:
        return config_path(self.source, value)

    def key(self) -> str:
        """What the run's outputs depend on (device excluded: it changes where, not what)."""
        body = self.model_dump(mode="json", exclude={"device"})
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a run config; any problem is one line naming the file."""
    config = read_config(path, RunConfig, "run config")
    require_inputs(config.source, [("task", config.task), *(("recipes", r) for r in config.recipes)])
    return config


@dataclass
class RunResult:
    config: dict[str, Any]
    out: str
    task: str
    target: str
    winners: list[str]
    decision: str  # why these winners, in one sentence
    sample: dict[str, Any]  # the sample's generation manifest
    selection: dict[str, Any]
    full: dict[str, Any]  # the full set's generation manifest
    training_sets: dict[str, dict[str, Any]]  # strategy -> {"path", "rows", "left_out"}
    verify: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _winners(ranking) -> tuple[list[str], str]:
    """The strategies to generate in full, and why."""
    n = ranking.n
    if len(tied := ranking.tied_best) > 1:
        return tied, f"{len(tied)} strategies tie for best at N={n}: generating each of them in full"
    first, second = ranking.estimates[0].strategy, ranking.estimates[1].strategy
    if ranking.top_two_separated:
        return [first], f"{first} is separated from {second} at N={n}: generating it in full"
    return [first, second], (f"the top two ({first}, {second}) are NOT separated at N={n}: "
                             "generating both in full; compare them with [verify] or a larger n")


def _check_scorer(config: RunConfig, task) -> None:
    """The scorer's settings, and the training questions it needs, checked before any generation: a proxy
    fine-tunes on the n sampled and answers ``validation`` others (the adaptive selector checks its own)."""
    if config.scorer == "adaptive":
        return
    from stylefit.scoring import get_scorer

    try:
        scorer = get_scorer(config.scorer, **config.scorer_params)
    except StylefitError as e:
        raise StylefitError(f"{config.source}: {e}") from None
    held = scorer.held_out_questions()
    if config.n + held > len(task.train):
        held_out = f" and answers {held} other training questions" if held else ""
        raise StylefitError(f"{config.source}: scorer '{config.scorer}' samples n={config.n}{held_out}, but task "
                            f"'{task.name}' has {len(task.train)} training questions")


def _adaptive_winners(result) -> tuple[list[str], str]:
    """The adaptive selector's pick (or its tied leaders), and why."""
    if result.best is not None:
        return [result.best], (f"the adaptive selector picks {result.best} (P(best) {result.p_best:.2f} in its last stage; "
                               f"stopped: {result.stopped}): generating it in full")
    return result.tied_best, (f"{len(result.tied_best)} strategies tie for best in the adaptive selector's last stage "
                              f"(stopped: {result.stopped}): generating each of them in full")


def _chat_rows(task, rows: list[dict], keep_wrong: bool) -> tuple[list[dict], int]:
    """Chat-format training examples (the task's prompt, the response); wrong ones left out unless kept,
    and responses still cut by the length limit always."""
    out, left_out = [], 0
    for row in rows:
        if row.get("truncated", False) or (wrong_unfixed(row) and not keep_wrong):
            left_out += 1
            continue
        question = task.get(row["id"])
        out.append({"messages": [{"role": "user", "content": task.prompt(question)},
                                 {"role": "assistant", "content": row["response"]}]})
    return out, left_out


def _check_out(out: Path, config: RunConfig) -> None:
    """An output folder belongs to one config: resuming another's would mix their results."""
    manifest = out / "manifest.json"
    if not manifest.is_file():
        if out.exists() and any(p for p in out.iterdir() if not p.name.startswith(".")):
            raise StylefitError(f"{out}: the output folder exists and is not a stylefit run; choose another --out")
        return
    try:
        previous = json.loads(manifest.read_text(encoding="utf-8")).get("config_key")
    except (OSError, json.JSONDecodeError, AttributeError):
        raise StylefitError(f"{manifest}: unreadable run manifest; remove the folder or choose another --out") from None
    if previous != config.key():
        raise StylefitError(f"{out}: holds a run of another config (key {previous}, this one {config.key()}); "
                            "choose another --out or remove the folder")


def run(
    config: RunConfig | str | Path,
    *,
    out: str | Path | None = None,
    store=None,
    load_model: Callable | None = None,
    say: Callable[[str], None] = lambda message: None,
    progress: StageProgress | None = None,
) -> RunResult:
    """Run the loop of ``config`` into ``out`` (default: ``out/<config name>`` in the working folder).

    ``store``: the cache (default $STYLEFIT_HOME/cache.sqlite). ``load_model`` maps a model name to
    a loaded model (default: ``stylefit.models.load_model`` on the config's device and dtype).
    ``say`` receives one line at the start of each stage.
    """
    from stylefit.api import generate, select, select_adaptive
    from stylefit.core.store import Store
    from stylefit.strategies.library import get_strategy, strategy_library

    config = config if isinstance(config, RunConfig) else load_config(config)
    name = Path(config.source).stem if config.source != "<memory>" else "run"
    out = Path(out) if out is not None else Path("out") / name
    task = load_task(config.path(config.task))
    recipes = [config.path(r) for r in config.recipes]
    library = strategy_library(*recipes)
    chosen = [get_strategy(s, library) for s in config.strategies]
    used = {s.teacher for s in chosen if s.teacher}
    if unused := sorted(set(config.teachers) - used):
        raise StylefitError(f"{config.source}: teachers: '{unused[0]}' is the teacher of none of the strategies "
                            f"(they use: {', '.join(sorted(used)) or 'no teacher'})")
    if config.verify is not None:
        _check_verify(config, library, task)
    _check_scorer(config, task)
    full_size = config.full_size or len(task.train)
    if full_size > len(task.train):
        raise StylefitError(f"{config.source}: full_size={full_size}, but task '{task.name}' has {len(task.train)} training questions")
    _check_out(out, config)
    write_atomic(out / "manifest.json", json.dumps({"config_key": config.key(), "status": "running",
                                                   "config": config.model_dump(mode="json")}, indent=2) + "\n")
    store = store if isinstance(store, Store) else Store(store)
    if load_model is None:
        from stylefit.models import load_model as load

        def load_model(model: str):
            return load(model, device=config.device, dtype=config.dtype)

    loaded: dict[str, Any] = {}

    def teacher(model: str):  # one load per model, whichever step asks
        model = config.teachers.get(model, model)
        if model not in loaded:
            loaded[model] = load_model(model)
        return loaded[model]

    target = loaded[config.target] = load_model(config.target)  # the target is never mapped to a teacher
    timings: dict[str, float] = {}
    common = dict(target=target, recipes=recipes, store=store, retry_temperature=config.retry_temperature,
                  load_model=teacher, progress=progress)

    t = time.perf_counter()
    say(f"1/4 generating N={config.n} per strategy with {len(chosen)} strategies")
    sample = generate(task, config.strategies, out=out / "sample", n=config.n, **common)
    timings["sample_s"] = time.perf_counter() - t

    t = time.perf_counter()
    say(f"2/4 ranking the strategies by {config.scorer} under {target.name}")
    sampled = [out / "sample" / f"{s}.jsonl" for s in config.strategies]
    if config.scorer == "adaptive":  # screen, shortlist, proxy rounds: scorer_params are its settings
        adaptive = select_adaptive(task, sampled, target=target, settings={"n_bootstrap": config.bootstrap} | config.scorer_params,
                                   n=config.n, sample_seed=config.sample_seed, store=store, progress=progress)
        selection = adaptive.to_dict()
        winners, decision = _adaptive_winners(adaptive)
    else:
        ranked = select(task, sampled, target=target, scorer=config.scorer, scorer_params=config.scorer_params, n=config.n,
                        sample_seed=config.sample_seed, store=store, n_bootstrap=config.bootstrap, progress=progress)
        selection = ranked.to_dict()
        winners, decision = _winners(ranked.ranking)
    write_atomic(out / "selection.json", json.dumps(selection, indent=2, ensure_ascii=False) + "\n")
    timings["select_s"] = time.perf_counter() - t

    t = time.perf_counter()
    baseline = config.verify.baseline if config.verify else None
    in_full = winners + ([baseline] if baseline and baseline not in winners else [])
    say(f"3/4 {decision} ({full_size} questions)")
    full = generate(task, in_full, out=out / "full", n=full_size, **common)
    training_sets, notes = {}, []
    for strategy in winners:
        rows = [obj for _, obj in read_jsonl(out / "full" / f"{strategy}.jsonl")]
        chat, left_out = _chat_rows(task, rows, config.keep_wrong)
        path = out / ("training_set.jsonl" if len(winners) == 1 else f"training_set.{strategy}.jsonl")
        write_jsonl(path, chat)
        training_sets[strategy] = {"path": path.name, "rows": len(chat), "left_out": left_out}
        if left_out:
            notes.append(f"{strategy}: {left_out}/{len(rows)} responses stayed wrong or were cut by the length limit and are "
                         f"left out of {path.name} (keep_wrong = true keeps the wrong ones that are whole)")
    timings["full_s"] = time.perf_counter() - t

    verified = None
    if config.verify is not None:
        t = time.perf_counter()
        if baseline in winners:
            notes.append(f"verify skipped: the baseline '{baseline}' is itself a winner, so there is nothing to compare")
        else:
            verified = _verify(config, task, out, winners + [baseline], full_size, store, say, progress)
        timings["verify_s"] = time.perf_counter() - t

    result = RunResult(config=config.model_dump(mode="json"), out=str(out), task=task.name, target=target.name,
                       winners=winners, decision=decision, sample=sample.to_dict(), selection=selection,
                       full=full.to_dict(), training_sets=training_sets, verify=verified, notes=notes, timings=timings)
    manifest = {"config_key": config.key(), "status": "done"} | result.to_dict() | {"versions": _versions()}
    write_atomic(out / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    write_atomic(out / "summary.md", summary_markdown(result))
    return result


def _check_verify(config: RunConfig, library, task) -> None:
    """[verify] problems surface before any generation, not after it."""
    from stylefit.strategies.library import get_strategy
    from stylefit.training.recipe import Recipe

    get_strategy(config.verify.baseline, library)
    if not task.test:
        raise StylefitError(f"{config.source}: [verify] needs a test split, and task '{task.name}' has none")
    try:
        Recipe.model_validate(config.verify.recipe)
    except ValidationError as e:
        raise StylefitError(f"{config.source}: {first_error(e, prefix='verify.recipe.')}") from None


def _verify(config: RunConfig, task, out: Path, strategies: list[str], full_size: int, store, say, progress) -> dict:
    from stylefit.training import verify

    v = config.verify
    say(f"4/4 fine-tuning on {', '.join(strategies)} with seeds {v.seeds} and evaluating on the test split")
    result = verify(task, [out / "full" / f"{s}.jsonl" for s in strategies], targets=config.target, seeds=v.seeds,
                    recipe=v.recipe, eval_settings={"max_new_tokens": v.max_new_tokens}, n_train=full_size,
                    n_test=v.n_test, base=v.base, metric=v.metric, store=store, device=config.device, dtype=config.dtype,
                    progress=progress, leave_out_wrong=not config.keep_wrong)  # what training_set.jsonl holds
    data = result.to_dict()
    write_atomic(out / "verify.json", json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return {k: data[k] for k in ("task", "metric", "seeds", "recipe", "n_train", "cases", "notes", "computed")}


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("stylefit", "torch", "transformers", "trl", "peft"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def summary_markdown(result: RunResult) -> str:
    """The run for a person: what was generated, how it ranked, what was picked and why."""
    from stylefit.report.terminal import ranking_text

    sel = result.selection.get("screen", result.selection)  # the adaptive selector's screen is a selection
    lines = [f"# stylefit run: {result.task} for {result.target}", "",
             f"Strategies: {', '.join(result.config['strategies'])}; sample N={result.config['n']} per strategy; "
             f"scorer {sel['scorer']} ({sel['unit']}, {'higher' if sel['higher_is_better'] else 'lower'} = preferred).", "",
             "## 1. The sample", "", "| strategy | teacher | correct 1st try | correct | still wrong | fixed to gold | tokens | s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result.sample["strategies"]:
        lines.append(f"| {r['strategy']} | {r['teacher'] or '-'} | {r['correct_first_try']}/{r['n']} | {r['correct']}/{r['n']} | "
                     f"{r['still_wrong']} | {r['fixed']} | {r['tokens']} | {r['seconds']:.1f} |")
    ranking = sel["ranking"]
    lines += ["", f"## 2. The ranking (N={ranking['n']}, {ranking['n_bootstrap']} paired bootstrap resamples, seed {ranking['seed']})", "",
              "| rank | strategy | mean | 95% CI | P(best) |", "|---|---|---|---|---|"]
    for e in ranking["estimates"]:
        lines.append(f"| {e['rank']} | {e['strategy']} | {e['mean']:.4g} | [{e['ci_low']:.4g}, {e['ci_high']:.4g}] | {e['p_best']:.2f} |")
    from stylefit.api import SelectionResult

    lines += ["", ranking_text(SelectionResult.from_dict(sel).ranking), ""]
    for stage in result.selection.get("stages", []):  # the adaptive selector: its screen, then its proxy rounds
        lines += [f"- {stage['name']}: {', '.join(stage['kept'])} go on"
                  + "".join(f"; {s} dropped, {why}" for s, why in stage["dropped"].items()) + "."]
    lines += ["", "## 3. The decision", "", result.decision + ".", ""]
    for strategy, ts in result.training_sets.items():
        report = next(r for r in result.full["strategies"] if r["strategy"] == strategy)
        lines.append(f"- `{ts['path']}`: {ts['rows']} chat-format examples written with {strategy} "
                     f"({report['correct']}/{report['n']} correct, {report['fixed']} fixed to gold, {ts['left_out']} left out)")
    if result.verify is not None:
        lines += ["", f"## 4. Verification ({result.verify['metric']} accuracy on the test split, seeds {result.verify['seeds']})", "",
                  "| rank | strategy | mean % | sd | per seed | 95% CI |", "|---|---|---|---|---|---|"]
        for case in result.verify["cases"]:
            for s in case["strategies"]:
                sd = "-" if s["std"] is None else f"{100 * s['std']:.1f}"
                lines.append(f"| {s['rank']} | {s['strategy']} | {100 * s['mean']:.1f} | {sd} | "
                             f"{' '.join(f'{100 * a:.1f}' for a in s['accuracies'])} | [{100 * s['ci_low']:.1f}, {100 * s['ci_high']:.1f}] |")
            if case["base"] is not None:
                lines.append(f"| | (base model) | {100 * case['base']['accuracy']:.1f} | | | |")
            for c in case["comparisons"]:
                verdict = "separated" if c["separated"] else "within noise"
                lines.append(f"\n{c['better']} - {c['worse']}: {100 * c['diff']:+.1f} points "
                             f"[{100 * c['ci_low']:+.1f}, {100 * c['ci_high']:+.1f}] ({verdict})")
    if result.notes or sel["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in sel["notes"] + result.notes]
    t = result.timings
    lines += ["", "Seconds: " + ", ".join(f"{k.removesuffix('_s')} {v:.1f}" for k, v in t.items()) + ".", ""]
    return "\n".join(lines)
