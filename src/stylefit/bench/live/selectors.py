"""The selectors on a case: each scores the case's first ``n_select`` questions with its registered
parameters (adapted to the case only where stated: its template, a proxy's max_length), and its
scores file records what they depend on (``selector_inputs``), so that a stale one is computed again.
The train-then-test proxies and the adaptive selector fine-tune; their runs are committed too."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stylefit.bench.live.config import PAPER_PROXY_DEFAULTS, CaseConfig, LiveConfig, SelectorSpec, case_task_path
from stylefit.bench.live.runs import CommittedRuns
from stylefit.core.errors import StylefitError, TooFewQuestions
from stylefit.core.progress import labelled
from stylefit.data.jsonl import write_atomic
from stylefit.training.runs import device_kind


def score_selectors(config: LiveConfig, case: CaseConfig, task, specs: list[SelectorSpec], *, store=None, workers: int = 1,
                    say: Callable[[str], None] = lambda line: None, progress=None) -> None:
    """Score the case with each selector whose scores file is missing or stale, writing
    ``<case>/scores/<selector>.json`` (every per-example score) as each finishes; a selector that
    refuses the case's sample as too small (``TooFewQuestions``) gets a file recording its refusal."""
    from stylefit.api import select
    from stylefit.models.device import resolve_device

    folder = config.path(config.results) / case.name
    files = [folder / "candidates" / f"{s}.jsonl" for s in case.strategies]
    for spec in specs:
        out = folder / "scores" / f"{spec.name}.json"
        asked = selector_inputs(config, case, spec)
        if spec.scorer == "random" or (out.is_file() and json.loads(out.read_text(encoding="utf-8")).get("asked") == asked):
            continue
        say(f"{case.name}: selector {spec.name}")
        selector_progress = labelled(progress, spec.name)  # a bar per selector: two may share a scorer
        t = time.perf_counter()
        try:
            if spec.scorer == "paper_proxy":
                data = _paper_proxy(config, case, task, files, spec, folder, store, selector_progress, workers)
            elif spec.scorer == "adaptive":
                data = _adaptive(config, case, spec, store, selector_progress, workers)
            else:
                result = select(task, files, target=case.target, scorer=spec.scorer, scorer_params=asked["params"],
                                n=config.n_select, store=store, dtype=config.dtype, progress=selector_progress)
                data = {"means": {e.strategy: e.mean for e in result.ranking.estimates},
                        "higher_is_better": result.higher_is_better, "selection": result.to_dict()}
                # what the call would cost with nothing cached: a proxy's fine-tunes at their own cost, and the
                # target's answers and scores another selector (or an interrupted attempt) stored, at theirs
                data["seconds"] = round(result.timings["cold_s"], 1)
        except TooFewQuestions as e:
            # the case's sample is too small for this selector: its refusal is a result (the judge counts it as no
            # pick), and the selectors after it still run
            say(f"{case.name}: selector {spec.name} refuses the case: {e}")
            data = {"refused": str(e)}
        data = {"selector": spec.name, "asked": asked, "seconds": round(time.perf_counter() - t, 1),
                "device": resolve_device("auto")} | data
        write_atomic(out, json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def shared_fine_tune_costs(proxies: dict[str, dict[str, Any]]) -> dict[str, tuple[float, str]]:
    """Costs of proxies scored before a proxy's seconds counted its fine-tunes at their own cost (2026-12-07):
    until then they were the clock of its own call, so of two proxies whose fine-tunes are the same runs
    (they differ only in ``measure``: proxy-gold_loss reads proxy's) the second read them from the store
    at almost no cost. Its cost is its own seconds plus those of the one that ran them (the one that
    computed more runs). ``proxies``: the proxy selectors' scores files by name (none that refused).
    Returns {selector: (its cost, the selector whose fine-tunes it read)}."""
    legacy = {}
    for name, data in proxies.items():
        if "runs_s" not in data["selection"]["timings"]:
            runs = {k: v for k, v in data["selection"]["scorer_params"].items() if k != "measure"}
            legacy[name] = (json.dumps(runs, sort_keys=True), data["selection"]["computed"], data["seconds"])
    costs = {}
    for name, (runs, computed, seconds) in legacy.items():
        partners = [(c, s, other) for other, (r, c, s) in legacy.items() if other != name and r == runs and c > computed]
        if partners:
            _, partner_seconds, partner = max(partners)
            costs[name] = (round(seconds + partner_seconds, 1), partner)
    return costs


def cost_is_cold(spec: SelectorSpec, data: dict[str, Any]) -> bool:
    """Whether a scores file's seconds count everything the selector used at what it cost, cached work
    included; False where some of it was cached before the store recorded compute seconds (a lower bound)."""
    if spec.scorer in ("proxy", "paper_proxy"):  # fine-tunes have always carried their own seconds
        return True
    if spec.scorer == "adaptive":  # its fine-tunes at their own cost; its screen as any other selection
        return (data.get("adaptive") or {}).get("cost", {}).get("unrecorded") == 0
    selection = data.get("selection") or {}
    return "cold_s" in selection.get("timings", {}) and selection.get("unrecorded") == 0


def questions_used(selection: dict[str, Any], asked: int) -> int:
    """How many of the ``asked`` questions a selection (a scores file's ``selection``, or the adaptive selector's
    screen) used: its ``n_used``, or for results written before it, those asked less the cut and over-long ones."""
    return selection.get("n_used") or asked - len(selection.get("skipped") or {})


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
    try:
        specs = plan_runs(task, load_candidates(task, files), case.target, strategies=case.strategies, seeds=[0],
                          n_train=config.n_select, recipe=Recipe(**recipe), base=False)
    except TooFewQuestions:  # a strategy with nothing to train on: the proxy refuses the case when it runs, recorded there
        return params
    return params if over_long(specs) is None else params | {"recipe": recipe | {"max_length": case_limit}}


def selector_inputs(config: LiveConfig, case: CaseConfig, spec: SelectorSpec) -> dict[str, Any]:
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
    from stylefit.training.runs import runs_cost_s

    params = PAPER_PROXY_DEFAULTS | spec.params
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
            "seconds": round(runs_cost_s(result.runs), 1), "device": " and ".join(devices)}


def proxy_rounds_recipe(config: LiveConfig, case: CaseConfig | None) -> dict[str, Any]:
    """The recipe the adaptive selector's proxy rounds fine-tune with on a case (None: the track's own,
    without a case's additions): the track's, without its epochs (each round sets its own); the track,
    benchmarks/adaptive_live.py and the default rule's `stylefit run` settings use it."""
    return {k: v for k, v in (config.recipe | (case.recipe if case else {})).items() if k != "epochs"}


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
                    run: bool = True, on_made: Callable[[dict[str, Any]], None] | None = None,
                    progress=None) -> dict[str, Any]:
    """The selector's result on the case under ``budget`` fine-tune steps (0: none): read back when
    committed under the same settings for the case's current candidates, else run, committed and
    given to ``on_made`` (``run=False``: an error instead). It runs on the case's bound device unless
    told otherwise (a selector's fine-tunes are not ground truth; their devices are recorded)."""
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
    files = [folder / "candidates" / f"{s}.jsonl" for s in case.strategies]
    inputs = {"target": case.target, "n_select": config.n_select, "strategies": case.strategies, "candidates": _files_hash(files)}
    if file.is_file() and not rerun:
        data = json.loads(file.read_text(encoding="utf-8"))
        if data["settings"] != settings.model_dump(mode="json"):
            raise OtherSettings(f"{file}: made with other settings than these; remove it, or give adaptive_live.py --rerun, "
                                "to replace it")
        # a result for other candidates is stale, as a selector's scores file is: made again (the fine-tunes of
        # strategies that did not change are committed, and reused). Results written before they recorded their
        # inputs are checked by their strategies only.
        if data.get("inputs", inputs) == inputs and set(data["preference"]) == set(case.strategies):
            return data
    if not run:
        raise StylefitError(f"no committed result for budget {budget or 'none'} on the case's current candidates")
    device = device or case.device or "auto"
    task = load_task(case_task_path(config, case))
    result = select_adaptive(task, files, target=case.target, device=device, dtype=config.dtype, settings=settings,
                             n=config.n_select, store=CommittedRuns(cache, folder / "adaptive_runs"), workers=workers,
                             progress=progress)
    runs = [json.loads(f.read_text(encoding="utf-8")) for f in (folder / "adaptive_runs").glob("*.json")]
    data = result.to_dict() | {"inputs": inputs,
                               "device": " and ".join(sorted({device_kind(r["device"]) for r in runs} | {device_kind(resolve_device(device))}))}
    write_atomic(file, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    if on_made:
        on_made(data)
    return data
