"""The live track for people: per-case ground truth and every selector's figures, as Markdown and JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from stylefit.bench.live.preregistration import AS_REGISTERED
from stylefit.data.jsonl import write_atomic
from stylefit.training.summary import CUT_FLAG, difference_margin


def _pct(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def _missing(x: float | None) -> bool:
    return x is None or math.isnan(x)  # JSON writes an undefined figure as null


def _interval(i: dict[str, float], scale: float = 1.0, digits: int = 2) -> str:
    if _missing(i["estimate"]):
        return "-"
    if _missing(i["low"]):
        return f"{scale * i['estimate']:.{digits}f}"
    return f"{scale * i['estimate']:.{digits}f} [{scale * i['low']:.{digits}f}, {scale * i['high']:.{digits}f}]"


def cut_bound_sentence(case: dict[str, Any]) -> str:
    """What a case's cut answers could change, from ``cut_bound``: each strategy's mean as scored and were
    every cut answer (not in a loop) right, which pairs of strategies could swap, whose regret moves."""
    bound = case["cut_bound"]
    spans = ", ".join(f"{s} {_pct(low)}-{_pct(high)}" for s, (low, high) in bound["strategies"].items())
    text = (f"Whichever way its cut answers would end under a larger budget, each strategy's mean stays within "
            f"{spans} (every cut answer wrong, and every one right)")
    means = {s: a["mean"] for s, a in case["accuracy"].items()}
    swaps = "; ".join(f"{a} ({_pct(means[a])}) and {b} ({_pct(means[b])})" for a, b in bound["could_swap"])
    text += (f": the order could change only between {swaps}, and with it the figures that rank them" if swaps
             else ": every pair of strategies keeps its order, so the ranking and every ρ, pick and hit rate are as shown")
    moved = [f"{name} ({change['regret_points']:+.1f} pts)" for name, change in bound.get("changes_if_right", {}).items()]
    text += f"; counted right, regret would move for {', '.join(moved)}." if moved else "."
    for probe in case.get("cut_probes", []):
        text += (f" Probed (benchmarks/live/cut_probe.py): {probe['run']} fine-tuned again on {probe['probe_device']} (the run: "
                 f"{probe['run_device']}) and its {probe['cut_not_looping']} cut answers given {probe['probe_budget']} tokens instead of "
                 f"{probe['budget']}: {probe['end_within_probe_budget']} end, {probe['looping_at_probe_budget']} are then caught in a loop, "
                 f"{probe['correct_at_probe_budget']} right ({probe['same_first_200_characters']} begin as on {probe['run_device']}).")
    return text


def flagged_strategy_runs(case: dict[str, Any]) -> list[str]:
    """The flagged runs that train a strategy: a flagged base run moves no ranking (base_cut_sentence)."""
    return [run for run in case.get("cut_flagged", []) if run != "base"]


def base_cut_sentence(case: dict[str, Any]) -> str:
    """A flagged base run is no strategy: what its cut answers could change is its own accuracy, nothing ranked."""
    if "base" not in case["cut_flagged"]:
        return ""
    open_ended = case["cut"]["base"] - case["looping"].get("base", 0)
    base = case["base"]
    return (f"The base model is no strategy: were its {open_ended} cut answers not in a loop all right, it would score at most "
            f"{_pct(base + open_ended / case['n_test'])}% instead of {_pct(base)}%, and no ranking, ρ, pick or regret depends on it. ")


def questions_sentence(case: dict[str, Any]) -> str:
    """Which selectors scored (or, the proxies, trained on) fewer of the sample's questions than they were asked,
    grouped by how many: a question is left out for every strategy when one strategy's response to it is cut."""
    fewer: dict[tuple[int, int], list[str]] = {}
    for name, (scored, asked) in case.get("selector_questions", {}).items():
        if scored < asked:
            fewer.setdefault((scored, asked), []).append(name)
    if not fewer:
        return ""
    return ("**Fewer questions scored than asked:** " + "; ".join(
        f"{scored} of {asked} ({', '.join(names)})" for (scored, asked), names in sorted(fewer.items()))
        + ". The rest have a response cut (or too long) in at least one strategy, and are left out for every strategy, "
        "as training leaves a cut response out.")


def refusals_sentence(case: dict[str, Any]) -> str:
    """The selectors that refused the case's sample, with their one-line reasons, and how they are judged."""
    refused = case.get("refused", {})
    if not refused:
        return ""
    return ("**Refused:** " + "; ".join(f"`{name}`: {why}" for name, why in refused.items())
            + ". A selector that refuses makes no pick: it is judged as ranking every strategy tied (chance, as random).")


def largest_rho_move(track: dict[str, Any]) -> tuple[str, float]:
    """The selector whose weighted ρ moves most when the track is judged again with every cut answer right, and by how much."""
    moves = {name: abs(track["if_cut_answers_right"][name]["weighted_spearman"]["estimate"] - row["weighted_spearman"]["estimate"])
             for name, row in track["figures"].items() if not _missing(row["weighted_spearman"]["estimate"])}
    worst = max(moves, key=moves.get)
    return worst, moves[worst]


def track_bound_sentence(track: dict[str, Any]) -> str:
    """The most the track's cut answers could move its weighted ρ: judged again with every one of them right."""
    worst, move = largest_rho_move(track)
    return (f"Judged again with every cut answer (not in a loop) counted right, no selector's weighted ρ moves by more than "
            f"{move:.3f} ({worst}).")


FIGURE_COLUMNS = (("weighted_spearman", "weighted ρ", 1.0, 2), ("mean_spearman", "mean ρ", 1.0, 2),
                  ("top1_accuracy_points", "top-1 acc (pts)", 1.0, 1), ("hit_rate", "hit rate", 1.0, 2),
                  ("regret_points", "regret (pts)", 1.0, 1), ("pairwise_accuracy", "pairwise acc", 1.0, 2))


def cost_is_bound(case: dict[str, Any], name: str) -> bool:
    """Whether the case's seconds for the selector are a lower bound (cached work of unknown cost left out)."""
    return name in case.get("selector_seconds_lower_bound", ())


def mean_cost(track: dict[str, Any], name: str, device: str = "cpu") -> tuple[float, bool] | None:
    """Mean seconds per strategy over the judged cases where the selector ran on ``device``, and whether it
    is a lower bound (a case's figure leaves out cached work of unknown cost); None where it ran on none, as
    for a selector that costs nothing (random). Costs on different devices never mix."""
    cases = [case for case in track["cases"] if case.get("judged") and case["selector_devices"].get(name) == device]
    if not cases:
        return None
    return (sum(case["selector_seconds"][name] / len(case["accuracy"]) for case in cases) / len(cases),
            any(cost_is_bound(case, name) for case in cases))


def _cost(track: dict[str, Any], name: str, device: str = "cpu") -> str:
    """``mean_cost`` as a table shows it: "≥" before a lower bound, "-" for none."""
    if (cost := mean_cost(track, name, device)) is None:
        return "-"
    return f"{'≥' if cost[1] else ''}{cost[0]:.1f}"


def _run_costs(case: dict[str, Any]) -> str:
    """Each run's wall seconds (load, fine-tune, test answers), grouped by the device it ran on."""
    by_device: dict[str, list[str]] = {}
    for run, seconds in case["run_seconds"].items():
        by_device.setdefault(case["devices"][run], []).append(f"{run} {seconds:.0f}")
    return " ".join(f"Run cost on {device} ({len(runs)} runs), s: {', '.join(runs)}." for device, runs in by_device.items())


def _cuts(case: dict[str, Any], strategy: str | None) -> str:
    """A strategy's (or, for None, the base model's) test answers cut by max_new_tokens, seed by seed; (cut!) past the flag."""
    runs = sorted(run for run in case.get("cut", {}) if (run == "base") == (strategy is None)
                  and (strategy is None or run.rpartition(":seed")[0] == strategy))
    text = " ".join(str(case["cut"][run]) for run in runs)
    if any(loops := [case.get("looping", {}).get(run, 0) for run in runs]):
        text += f" ({' '.join(map(str, loops))} looping)"
    return text + (" (cut!)" if any(run in case.get("cut_flagged", []) for run in runs) else "")


def _signs(s: dict[str, Any] | None) -> str:
    return "-" if s is None else f"{s['wins']}/{s['ties']}/{s['losses']} ({s['sign_test_p']:.2f})"


def pick_text(picks: list[str], strategies: int, refused: bool = False) -> str:
    """A selector's pick as shown: its top strategies, or no pick where it refused the case or tied every strategy."""
    if refused:
        return "refused (no pick)"
    return f"all {len(picks)} tied (no pick)" if len(picks) == strategies else " = ".join(picks)


SELECTOR_COLUMNS = ("selector", "picks", "ρ", "regret (pts)", "seconds", "device")


def selector_rows(case: dict[str, Any]) -> list[list[str]]:
    """One case's selectors as table cells (SELECTOR_COLUMNS): what each picked, and how well it
    ranked the strategies where the case was judged."""
    rows = []
    for name, picks in case["picks"].items():
        o = case.get("outcomes", {}).get(name, {})
        rho = "-" if _missing(o.get("spearman")) else f"{o['spearman']:.2f}"
        regret = "-" if _missing(o.get("regret_points")) else f"{o['regret_points']:.1f}"
        rows.append([name, pick_text(picks, len(case["accuracy"]), refused=name in case.get("refused", {})), rho, regret, ("≥" if cost_is_bound(case, name) else "") + str(case["selector_seconds"].get(name, "-")), case["selector_devices"].get(name, "-")])
    return rows


def live_markdown(track: dict[str, Any]) -> str:
    lines = ["# Live track: does familiarity predict the fine-tuned outcome?", "",
             "Produced by `stylefit bench live benchmarks/live/live.toml`, from the committed runs and scores under "
             "`benchmarks/results/live/`. Accuracies are strict test accuracy (%), mean and sd over seeds; "
             "σ is the sd of the strategies' means (the case's weight); the noise floor is one run's sd "
             "(seed spread and binomial test-item error together).", ""]
    for case in track["cases"]:
        noise = case["noise"]
        lines += [f"## {case['case']} ({case['target']}, n_test={case['n_test']}, seeds {case['seeds']})", "",
                  ("Pre-registered" if case["preregistered"] else "Development case, not pre-registered") + f": {case['preregistration_reason']}.", "",
                  *([f"Scored in the `{case['template']}` template (the target has no chat template): every selector that takes a "
                     "template was given it, unless it names its own.", ""] if "template" in case else []),
                  "| strategy | rank | mean | sd | per seed | answers cut per seed (caught in a loop) |", "|---|---|---|---|---|---|"]
        for strategy, a in sorted(case["accuracy"].items(), key=lambda kv: kv[1]["rank"]):
            lines.append(f"| {strategy} | {a['rank']} | {_pct(a['mean'])} | {_pct(a['sd'])} | "
                         f"{' '.join(_pct(x) for x in a['per_seed'])} | {_cuts(case, strategy)} |")
        for name, a in case.get("routed", {}).items():  # beside the strategies, never ranked by the selectors
            mix = ", ".join(f"{k} {100 * v:.0f}%" for k, v in a["composition"].items())
            lines.append(f"| {name} (per-question routing: {mix}) | | {_pct(a['mean'])} | {_pct(a['sd'])} | "
                         f"{' '.join(_pct(x) for x in a['per_seed'])} | {_cuts(case, name)} |")
        if case["base"] is not None:
            lines.append(f"| (base model) | | {_pct(case['base'])} | | | {_cuts(case, None)} |")
        lines += ["", f"σ = {_pct(case['sigma'])} points; noise floor: one run strays by sd {_pct(noise['run_sd'])} points "
                  f"(seed sd {_pct(noise['seed_std'])}, test items {_pct(noise['binomial_se'])}).",
                  _run_costs(case), ""]
        if case.get("sigma_below_noise"):
            lines += ["**σ is below the noise floor:** the strategies' means spread less than one run strays, so their ranking is "
                      "mostly noise; the case is judged all the same, weighted by its σ as registered (it counts little).", ""]
        if "eval" in case:
            changed = {k: v for k, v in case["recipe"].items() if track["recipe"].get(k) != v}
            lines += [f"Evaluation budget: {case['eval'].get('max_new_tokens')} new tokens"
                      + (f"; recipe changed for this case: {changed}" if changed else "")
                      + (f"; runs bound to {case['device']}." if case.get("device") else "; runs not bound to a device."), ""]
        if guard := case.get("length_guard"):
            lines += ["Training examples longer than the registered limit: " + "; ".join(
                f"`{name}` fine-tuned with max_length {used}, not {registered}" for name, (registered, used) in guard.items())
                + ". The limit is only checked (an example longer is refused, never cut); under the registered one these "
                "selectors could not run on this case.", ""]
        if shared := case.get("shared_costs"):
            lines += ["Fine-tunes shared: " + "; ".join(f"`{name}` read `{partner}`'s fine-tunes from the store" for name, partner in shared.items())
                      + ". Scored before a proxy's seconds counted its fine-tunes at their own cost, its seconds here are its own "
                      "call's plus those of the selector that ran them.", ""]
        if overlap := case.get("overlap"):
            lines += ["Distinct strategies: " + "; ".join(overlap["summary"]) + ".", ""]
        if len(devices := sorted(set(case["devices"].values()))) > 1:
            lines += [f"**Mixed devices, not judged:** this case's runs ran on {' and '.join(devices)}, and the same run on both "
                      "does not give the same answers ([live_device_agreement.md](live_device_agreement.md)).", ""]
        if case.get("cut_flagged"):
            lines += [f"**Flagged:** {len(case['cut_flagged'])} run(s) had over {CUT_FLAG:.0%} of their {case['n_test']} test "
                      f"answers cut, not in a loop, by max_new_tokens ({case.get('eval', track['eval']).get('max_new_tokens')}): {', '.join(case['cut_flagged'])}. "
                      + ("Such an accuracy may measure the length limit as much as the strategy. " if flagged_strategy_runs(case) else "")
                      + base_cut_sentence(case) + cut_bound_sentence(case), ""]
        for sentence in (questions_sentence(case), refusals_sentence(case)):
            if sentence:
                lines += [sentence, ""]
        if case["picks"]:
            lines += ["| " + " | ".join(SELECTOR_COLUMNS) + " |", "|---" * len(SELECTOR_COLUMNS) + "|"]
            lines += ["| " + " | ".join(row) + " |" for row in selector_rows(case)]
            lines.append("")
    if track["incomplete"]:
        lines += ["## Not judged yet", ""] + [f"- {x}" for x in track["incomplete"]] + [""]
    if track["figures"]:
        lines += [f"## Selectors over {track['judged_cases']} judged case(s)", "",
                  "95% percentile bootstrap intervals over cases (none with fewer than 2 cases).", ""]
        judged = [c for c in track["cases"] if c.get("judged")]
        lines += ["Each case's ρ ranks its strategies, but strategies that write the same responses are one strategy counted "
                  "twice: distinct strategies per judged case " + ", ".join(
                      f"{c['case']} {c['overlap']['distinct']} of {len(c['accuracy'])}" for c in judged if "overlap" in c) + ".", ""]
        flagged = [c["case"] for c in track["cases"] if c.get("judged") and flagged_strategy_runs(c)]
        if flagged:
            lines += [f"**Flagged:** {len(flagged)} of the {track['judged_cases']} judged cases have runs whose test answers were cut "
                      f"by the length limit more than {CUT_FLAG:.0%} of the time ({', '.join(flagged)}): the figures below "
                      "average over them as they stand. " + track_bound_sentence(track), ""]
        refusals = {}
        for c in judged:
            for name in c.get("refused", {}):
                refusals.setdefault(name, []).append(c["case"])
        if refusals:
            lines += ["**Refusals, judged as no pick (every strategy tied):** " + "; ".join(
                f"{name} on {len(cs)} of the {track['judged_cases']} judged cases ({', '.join(cs)})" for name, cs in refusals.items()) + ".", ""]
        lines += ["Cost: the selector's wall time per strategy on a 2-core CPU (N questions scored, or for the proxies their "
                  "fine-tunes), averaged over the judged cases where it ran there (each case's table names the device), cached work "
                  "included at what it cost when computed; ≥ marks a lower bound: work cached before the store recorded "
                  "what computing it cost (the target's own answers and scores another selector stored) is left out.", ""]
        lines += figure_tables(track, track["cases"]) + [""]
    return "\n".join(lines + preregistration_lines(track) + default_rule_lines(track))


def picks_sentence(track: dict[str, Any]) -> str:
    """On the pre-registered cases, the regret of the default rule's incumbent's pick against each
    challenger's, case by case; a difference is beyond noise past the 95% margin by which two strategies'
    seed means differ on the case ('' before any such case is judged)."""
    rule = track.get("default_rule") or {}
    judged = [c for c in track["cases"] if c.get("judged")]
    chosen = [i for i, c in enumerate(judged) if c["preregistered"]]
    mine = rule.get("incumbent")
    if not chosen or mine not in track["outcomes"]:
        return ""
    parts = []
    for name in [n for n in rule.get("challengers", []) if n in track["outcomes"]]:
        counts = {"higher": [0, 0], "equal": [0, 0], "lower": [0, 0]}
        for i in chosen:
            gap = track["outcomes"][mine][i]["regret_points"] - track["outcomes"][name][i]["regret_points"]
            noise = judged[i]["noise"]
            margin = 100 * difference_margin(noise["seed_std"], noise["binomial_se"], len(judged[i]["seeds"]))
            tally = counts["higher" if gap > 1e-9 else "lower" if gap < -1e-9 else "equal"]
            tally[0] += 1
            tally[1] += abs(gap) > margin
        parts.append(f"against {name}'s, " + ", ".join(f"{way} on {n}" + (f" ({beyond} beyond noise)" if way != "equal" else "")
                                                     for way, (n, beyond) in counts.items() if n))
    return (f"On the {len(chosen)} pre-registered cases, the regret of {mine}'s pick (a tie, or no pick, at its expected "
            "regret) against each challenger's, beyond noise where the two differ by more than the 95% margin of a "
            "difference between two strategies' seed means on the case: " + "; ".join(parts) + "." if parts else "")


def default_rule_sentence(track: dict[str, Any]) -> str:
    """What the default rule decided, any deviation from it, and what `stylefit run` decides with ('' when
    the track names no rule)."""
    rule = track.get("default_rule")
    if not rule:
        return ""
    verdicts = {"waiting": "waits", "kept": "keeps the incumbent", "replaced": "replaces the incumbent", "undecided": "cannot decide"}
    run = rule.get("run") or {}
    params = ", ".join(f"{k}={json.dumps(v)}" for k, v in run.get("scorer_params", {}).items())
    settings = (f" on n={run['n']}" if "n" in run else "") + (f" with {params}" if params else "")
    selector = rule["run_selector"]
    text = (f"Default rule ({_where(rule)}): it {verdicts[rule['status']]} ({rule['reason']}) and chooses `{rule['default']}` "
            f"(incumbent `{rule['incumbent']}`).")
    if deviation := rule.get("deviation"):
        text += (f" Deviation ({_where(deviation)}; chosen after the results were seen), from a verdict of `{deviation['rule_chose']}` "
                 f"to `{deviation['instead']}`: " + (f"applied, because {deviation['reason']}" if deviation["applied"]
                                                     else f"not applied, because {deviation['not_applied_because']}") + ".")
    return (text + f" So `stylefit run` decides with `{run.get('scorer', rule['run_scorer'])}`{settings} (selector `{selector}`)"
            + (f". Unlike the track: {'; '.join(run['unlike_the_track'])}." if run.get("unlike_the_track") else "."))


def _where(committed: dict[str, Any]) -> str:
    """A rule or deviation file, with its commit and whether it was edited since."""
    return (f"`{committed['file']}`" + (f", committed at {committed['committed'][:8]}" if committed["committed"] else ", not committed yet")
            + ("; edited since, the committed text is used" if committed["changed_since"] else ""))


def default_rule_lines(track: dict[str, Any]) -> list[str]:
    """The default rule's verdict and, once it has decided, each challenger's paired difference to the incumbent."""
    rule = track.get("default_rule")
    if not rule:
        return []
    lines = ["## Which selector `stylefit run` decides with", "", default_rule_sentence(track), ""]
    lines += [picks, ""] if (picks := picks_sentence(track)) else []
    if paired := rule.get("paired"):
        lines += [f"| challenger | weighted ρ minus {rule['incumbent']}'s | regret minus {rule['incumbent']}'s (pts) |", "|---|---|---|"]
        lines += [f"| {name} | {_interval(d['weighted_spearman'])} | {_interval(d['regret_points'], digits=1)} |" for name, d in paired.items()]
        lines.append("")
    if rule.get("left_out"):
        lines += [f"Left out, not judged as registered: {', '.join(rule['left_out'])}.", ""]
    return lines


def figure_tables(group: dict[str, Any], cases: list[dict[str, Any]]) -> list[str]:
    """A group's selector figures (the whole track's, or one group's of ``track["groups"]``) and their
    paired differences, as Markdown tables; the cost column averages over ``cases``."""
    costs = {"cases": cases}
    lines = ["| selector | " + " | ".join(c[1] for c in FIGURE_COLUMNS) + " | CPU s / strategy |", "|---" * (len(FIGURE_COLUMNS) + 2) + "|"]
    for name, figures in group["figures"].items():
        lines.append(f"| {name} | " + " | ".join(_interval(figures[key], scale, digits) for key, _, scale, digits in FIGURE_COLUMNS)
                     + f" | {_cost(costs, name)} |")
    for reference, table in group["paired"].items():
        signs = group.get("paired_signs", {}).get(reference, {})
        lines += ["", f"Paired differences to `{reference}` (selector minus {reference}, same cases); W/T/L: cases where "
                  f"the selector did better, the same, worse than {reference}, with the two-sided sign-test p:", "",
                  "| selector | " + " | ".join(c[1] for c in FIGURE_COLUMNS) + " | ρ W/T/L (p) | top-1 W/T/L (p) |",
                  "|---" * (len(FIGURE_COLUMNS) + 3) + "|"]
        for name, figures in table.items():
            lines.append(f"| {name} | " + " | ".join(_interval(figures[key], scale, digits) for key, _, scale, digits in FIGURE_COLUMNS)
                         + f" | {_signs(signs.get(name, {}).get('spearman'))} | {_signs(signs.get(name, {}).get('top1_accuracy'))} |")
    return lines


def _met(met: bool | None) -> str:
    return "unchecked (a case's description says)" if met is None else "yes" if met else "no"


def preregistration_lines(track: dict[str, Any]) -> list[str]:
    """The pre-registered cases judged on their own (the registration, the selectors left out of it, the
    figures or why there are none, the season's requirements), then the development cases."""
    groups, reg = track["groups"], track["preregistration"]
    new, old = groups["preregistered"], groups["development"]
    in_group = lambda group: [c for c in track["cases"] if c["case"] in group["cases"]]
    lines = ["## Pre-registered cases (second season)", ""]
    if reg is None:
        lines += ["The track names no pre-registration: every case is a development case.", ""]
    else:
        lines += [f"Registration: `{reg['file']}` ({reg['reason']}); recommended selector: `{reg['recommended']}`. A case counts as "
                  "pre-registered only when the registration's first commit precedes the first commit of every one of its run "
                  "files (read from git); its figures use only the selectors that the track judges as registered.", ""]
        if reg["changed_since_registration"]:
            lines += [f"**Changed since registered:** `{reg['file']}` differs from its first commit; it is judged as registered.", ""]
        lines += [f"- `{name}`: {why}" for name, why in reg["selectors"].items() if why != AS_REGISTERED] + [""]
    if new["figures"]:
        lines += [f"Judged pre-registered cases: {new['judged_cases']} ({', '.join(new['cases'])}); 95% percentile bootstrap "
                  "intervals over these cases alone (none with fewer than 2).", ""] + figure_tables(new, in_group(new)) + [""]
    else:
        lines += [f"None yet: {new['note']}.", ""]
    if reg is not None:
        lines += ["What the season must hold:", "", "| requirement | required | have | met |", "|---|---|---|---|"]
        lines += [f"| {r['requirement']} | {r['required']} | {'-' if r['have'] is None else r['have']} | {_met(r['met'])}"
                  + (f" (short: {', '.join(r['short'])})" if r.get("short") else "") + " |" for r in reg["season"]] + [""]
    lines += ["## Development cases (first season)", ""]
    if not old["figures"]:
        lines += [f"None: {old['note']}.", ""]
    elif old["judged_cases"] == track["judged_cases"]:
        lines += [f"Every judged case is a development case ({', '.join(old['cases'])}): their figures are the track's above.", ""]
    else:
        lines += [f"Judged development cases: {old['judged_cases']} ({', '.join(old['cases'])}), on their own.", ""]
        lines += figure_tables(old, in_group(old)) + [""]
    return lines


def write_live(track: dict[str, Any], out: Path) -> tuple[Path, Path]:
    json_path, md_path = out / "live_track.json", out / "live_track.md"
    write_atomic(json_path, json.dumps(track, indent=1, ensure_ascii=False, default=float) + "\n")
    write_atomic(md_path, live_markdown(track))
    return json_path, md_path
