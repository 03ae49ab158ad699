"""Judging: every selector's preference against every complete case's ground truth, with the paper
track's selection-quality figures (``selection.quality``); over all judged cases, and apart over the
pre-registered and the development ones, with the season's requirements and the default rule's
verdict. Everything is read from the committed files."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stylefit.bench.live.config import CaseConfig, LiveConfig, ReasoningGymTask
from stylefit.bench.live.preregistration import (AS_REGISTERED, Preregistration, Registration, Season, load_preregistration,
                                                 selector_agreement)
from stylefit.bench.live.selectors import cost_is_cold, questions_used, selector_inputs, shared_fine_tune_costs
from stylefit.bench.live.truth import case_truth, cut_probes, truth_progress
from stylefit.training.runs import device_kind
from stylefit.training.summary import cut_bounds, cut_flagged, pairs_that_could_swap


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
            incomplete.append(f"{case.name}: ground truth incomplete ({truth_progress(config, case)})")
            continue
        preregistered, why = (registration.case(sorted((root / case.name / "runs").glob("*.json")), root) if registration
                              else (False, "the track's config names no pre-registration"))
        accuracy = {s.strategy: s for s in truth.strategies}
        acc = np.array([accuracy[s].mean for s in case.strategies])
        bounds = cut_bounds([accuracy[s] for s in case.strategies], truth.n_test)
        acc_if_right = np.array([bounds[s][1] for s in case.strategies])
        preferences, selector_seconds, selector_devices, length_guard, questions, refused = {}, {}, {}, {}, {}, {}
        lower_bounds = []  # selectors whose seconds leave out cached work of unrecorded cost
        proxies = {}  # the proxies' scores files, for their shared fine-tunes' cost
        for spec in config.selectors:
            file = root / case.name / "scores" / f"{spec.name}.json"
            if spec.scorer == "random":
                preferences[spec.name] = np.zeros(len(case.strategies))
            elif file.is_file() and (data := json.loads(file.read_text(encoding="utf-8"))).get("asked") == selector_inputs(config, case, spec):
                if "refused" in data:
                    # A selector that refuses the case's sample makes no pick: judged as every strategy tied, what a
                    # user left without its answer could do (chance, as random), on the same cases as every other
                    # selector. A rule chosen after grace refused family_relationships-gemma (README, live track).
                    # Its seconds, spent only to refuse, are no cost of selecting: left out of the cost figures.
                    preferences[spec.name], refused[spec.name] = np.zeros(len(case.strategies)), data["refused"]
                    continue
                sign = 1.0 if data["higher_is_better"] else -1.0
                preferences[spec.name] = sign * np.array([data["means"][s] for s in case.strategies])
                selector_seconds[spec.name] = data["seconds"]
                if not cost_is_cold(spec, data):
                    lower_bounds.append(spec.name)
                selector_devices[spec.name] = data["device"]
                # questions dropped for every strategy (a response cut in one of them, or over-long): scored of asked
                if (selection := data.get("selection") or (data.get("adaptive") or {}).get("screen")) is not None:
                    questions[spec.name] = [questions_used(selection, data["asked"]["n_select"]), data["asked"]["n_select"]]
                # a proxy whose max_length was raised to the case's (proxy_length_guard): registered and used
                registered = (spec.params.get("recipe") or {}).get("max_length")
                if spec.scorer == "proxy" and (used := data["asked"]["params"].get("recipe", {}).get("max_length")) != registered:
                    length_guard[spec.name] = [registered, used]
                if spec.scorer == "proxy":
                    proxies[spec.name] = data
        shared_costs = shared_fine_tune_costs(proxies)
        selector_seconds |= {name: seconds for name, (seconds, _) in shared_costs.items()}
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
               "cut_probes": cut_probes(root / case.name / "cut_probe"),
               "noise": vars(truth.noise), "sigma": accuracy_spread(acc), "run_seconds": seconds,
               # the strategies spread less than one run strays: judged and weighted by its σ all the same (registered)
               "sigma_below_noise": bool(accuracy_spread(acc) < truth.noise.run_sd),
               "selector_seconds": selector_seconds, "selector_seconds_lower_bound": lower_bounds, "selector_devices": selector_devices, "selector_questions": questions,
               "picks": {name: [] if name in refused else [case.strategies[i] for i in np.flatnonzero(p == p.max())]
                         for name, p in preferences.items()},
               "refused": refused,
               "overlap": _overlap(root / case.name / "candidates", case.strategies),
               "needing_solutions": needing_solutions(root / case.name / "candidates", case.strategies),
               "task_category": task_category(case), "length_guard": length_guard,
               "shared_costs": {name: partner for name, (_, partner) in shared_costs.items()}}
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
    from stylefit.bench.live.default_rule import deviate, load_deviation, load_rule, run_settings, verdict

    if config.default_rule is None:
        return None
    committed = Registration(config.path(config.default_rule))
    rule = load_rule(committed.text, f"{config.default_rule}" + (" (as committed)" if committed.commit else ""))
    chosen = [i for i, row in enumerate(judged) if row["preregistered"]]
    registered = {name for name, how in agreement.items() if how == AS_REGISTERED}
    decided = verdict(rule, {name: [outcomes[name][i] for i in chosen] for name in registered}, [sigma[i] for i in chosen], registered)
    # every selector the rule may choose, translated now: one that cannot be fails today, not the day it wins
    runs = {s.name: run_settings(rule, s, config) for s in config.selectors if s.name in [rule.incumbent, *rule.challengers]}
    deviation = None
    if config.default_deviation is not None:
        written = Registration(config.path(config.default_deviation))
        deviation = {"file": config.default_deviation, "committed": written.commit, "changed_since": written.changed} | deviate(
            decided, load_deviation(written.text, f"{config.default_deviation}" + (" (as committed)" if written.commit else "")))
    run_selector = deviation["instead"] if deviation and deviation["applied"] else decided["default"]
    return {"file": config.default_rule, "committed": committed.commit, "changed_since": committed.changed} | decided | {
        "deviation": deviation, "run_selector": run_selector, "run": runs.get(run_selector)}


def _groups(config: LiveConfig, prereg: Preregistration | None, agreement: dict[str, str], outcomes: dict[str, list],
            sigma: list[float], judged: list[dict]) -> dict[str, dict]:
    """The development cases and the pre-registered ones, each judged on its own; the pre-registered
    ones only by the selectors judged as registered, the recommended one first."""
    order = [] if prereg is None else [prereg.recommended] + [s.name for s in prereg.selectors if s.name != prereg.recommended]
    registered = [name for name in order if agreement.get(name) == AS_REGISTERED]
    recommended = [prereg.recommended] if prereg is not None and prereg.recommended in registered else []
    return {"development": _group(outcomes, sigma, judged, lambda row: not row["preregistered"], [s.name for s in config.selectors],
                                  "no judged development case"),
            # the recommended selector is what the season judges: every other one is paired to it too
            "preregistered": _group(outcomes, sigma, judged, lambda row: row["preregistered"], registered,
                                    "no judged case's run files all follow the registration's commit" if registered
                                    else "no selector is judged by the track as it was registered",
                                    list(dict.fromkeys([*recommended, *REFERENCES])))}


def _figures(outcomes: dict[str, list], sigma: list[float], references: Sequence[str] = REFERENCES) -> dict[str, Any]:
    """Every selector's figures over the same cases, and its paired differences to each of ``references``
    it is judged beside, with the cases each way."""
    from stylefit.selection.quality import difference, summarize_many, win_tie_loss

    figures, paired, signs = {}, {}, {}
    if sigma:
        figures = summarize_many(outcomes, sigma)
        for reference in (r for r in references if r in outcomes):
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
           selectors: list[str], empty: str, references: Sequence[str] = REFERENCES) -> dict[str, Any]:
    """The figures of ``selectors`` over the judged cases that ``member`` takes (judged on their own,
    as the whole track is), paired to ``references``; with none, ``empty`` says why and there are no figures."""
    chosen = [i for i, row in enumerate(judged) if member(row)]
    group = {"cases": [judged[i]["case"] for i in chosen], "judged_cases": len(chosen), "selectors": selectors}
    if not chosen or not selectors:
        return group | {"note": empty, "figures": {}, "paired": {}, "paired_signs": {}}
    return group | _figures({name: [outcomes[name][i] for i in chosen] for name in selectors}, [sigma[i] for i in chosen], references)


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
    # Issue 25 asks Qwen and Gemma on two tasks each beside SmolLM2 (on many), which the registration left out:
    # read as min_targets targets judged on two task families each, and counted all the same; short ones named.
    families: dict[str, set[str]] = {}
    for row in judged:
        families.setdefault(row["target"], set()).add(tasks[row["case"]])
    few = [f"{target} {len(f)}" for target, f in sorted(families.items()) if len(f) < 2]
    progress.append({"requirement": "targets judged on at least 2 task families each (issue 25; not in the registration)",
                     "required": season.min_targets, "have": len(families) - len(few), "met": len(families) - len(few) >= season.min_targets}
                    | ({"short": few} if few else {}))
    return progress + [{"requirement": f"judged pre-registered cases with at least {each.min_strategies} distinct strategies, {each.min_seeds} "
                                       f"seeds and {each.min_test_questions} test questions", "required": len(new),
                        "have": len(new) - len(short), "met": not short, "short": short}]


def needing_solutions(folder: Path, strategies: list[str]) -> list[str] | None:
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
