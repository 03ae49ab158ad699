"""The live track's HTML page (``stylefit bench live --report``): which selector to trust, then every case."""

from __future__ import annotations

from html import escape
from pathlib import Path

from stylefit.bench.live.report import FIGURE_COLUMNS, SELECTOR_COLUMNS, _cost, _interval, _signs, base_cut_sentence, cut_bound_sentence, default_rule_sentence, flagged_strategy_runs, mean_cost, questions_sentence, refusals_sentence, selector_rows
from stylefit.data.jsonl import write_atomic
from stylefit.report import plots
from stylefit.report.html import page, table
from stylefit.training.runs import device_kind
from stylefit.training.summary import CUT_FLAG


def live_sections(track: dict) -> list[str]:
    """The live track (``live_track.json``): which selector to trust first (what a reader came for), then every case."""
    sections = []
    if track["figures"]:
        sections += [f"<h2>Which selector to trust ({track['judged_cases']} judged cases)</h2>",
                     '<p class="muted">95% bootstrap intervals over cases (none with fewer than 2 cases).</p>',
                     _figures_table(track["figures"], track)]
        costed = [(name, f["weighted_spearman"]) for name, f in track["figures"].items() if mean_cost(track, name) is not None]
        if costed:
            sections.append('<div class="figure">' + plots.quality_vs_cost(
                [n for n, _ in costed], [f["estimate"] for _, f in costed], [f["low"] for _, f in costed],
                [f["high"] for _, f in costed], [round(mean_cost(track, n)[0], 1) for n, _ in costed],
                "weighted Spearman ρ with the fine-tuned accuracy") + "</div>")
    sections += preregistered_sections(track)
    if rule := default_rule_sentence(track):  # the verdict, any deviation from it, and what `stylefit run` decides with
        sections += ["<h2>Which selector stylefit run decides with</h2>", f"<p>{escape(rule.replace('`', ''))}</p>"]
    for case in track["cases"]:
        rows = sorted(case["accuracy"].items(), key=lambda kv: kv[1]["rank"])
        sd = lambda a: a["sd"] or 0.0
        sections += [f"<h2>{escape(case['case'])}: accuracy after fine-tuning ({escape(case['target'])})</h2>",
                     f'<p class="muted">{"Pre-registered" if case["preregistered"] else "Development case, not pre-registered"}: '
                     f'{escape(case["preregistration_reason"])}.</p>',
                     '<div class="figure">' + plots.forest([k for k, _ in rows], [100 * a["mean"] for _, a in rows],
                                                           [100 * (a["mean"] - sd(a)) for _, a in rows],
                                                           [100 * (a["mean"] + sd(a)) for _, a in rows], None,
                                                           f"strict test accuracy (%), n_test = {case['n_test']}; bars: sd over "
                                                           f"seeds {case['seeds']}") + "</div>",
                     f'<p class="muted">σ (spread of the strategies) {100 * case["sigma"]:.1f} points; one run strays by sd '
                     f'{100 * case["noise"]["run_sd"]:.1f} points'
                     + ("" if case["base"] is None else f'; the target before fine-tuning: {100 * case["base"]:.1f}%')
                     + "".join(f'; {escape(name)} (per-question routing): {100 * a["mean"]:.1f}%' for name, a in case.get("routed", {}).items())
                     + ".</p>"]
        if case.get("cut_flagged"):
            sections.append(f'<p><strong>Flagged (cut!):</strong> {escape(", ".join(case["cut_flagged"]))} had over '
                            f'{CUT_FLAG:.0%} of their test answers cut, not in a loop, by max_new_tokens '
                            f'({escape(str(case.get("eval", track["eval"]).get("max_new_tokens")))})'
                            + (": their accuracy measures the limit as much as the strategy. " if flagged_strategy_runs(case) else ". ")
                            + f"{escape(base_cut_sentence(case) + cut_bound_sentence(case))}</p>")
        if len(kinds := sorted({device_kind(d) for d in case["devices"].values()})) > 1:
            sections.append(f"<p><strong>Mixed devices, not judged:</strong> this case's runs ran on {escape(' and '.join(kinds))}, "
                            "whose answers differ in near ties.</p>")
        for sentence in (questions_sentence(case), refusals_sentence(case)):
            if sentence:
                sections.append(f"<p>{escape(sentence.replace('**', '').replace('`', ''))}</p>")
        if case.get("outcomes"):
            sections.append(table(list(SELECTOR_COLUMNS), selector_rows(case), numeric={2, 3, 4}))
    if track["incomplete"]:
        sections += ["<h2>Not judged yet</h2>", "<ul>" + "".join(f"<li>{escape(x)}</li>" for x in track["incomplete"]) + "</ul>"]
    return sections


def preregistered_sections(track: dict) -> list[str]:
    """The pre-registered cases judged on their own (the selectors as registered, the recommended first), or why none are."""
    group, reg = track["groups"]["preregistered"], track["preregistration"]
    sections = ["<h2>Pre-registered cases (second season)</h2>"]
    if reg is None:
        return sections + ['<p class="muted">The track names no pre-registration: every case is a development case.</p>']
    sections.append(f'<p class="muted">Registration: {escape(reg["file"])} ({escape(reg["reason"])}); recommended selector: '
                    f'{escape(reg["recommended"])}. Development cases (not pre-registered): '
                    f'{escape(", ".join(track["groups"]["development"]["cases"]) or "none")}.</p>')
    if not group["figures"]:
        return sections + [f"<p>None yet: {escape(group['note'])}.</p>"]
    cases = {"cases": [c for c in track["cases"] if c["case"] in group["cases"]]}
    sections += [f'<p class="muted">{group["judged_cases"]} judged pre-registered case(s): {escape(", ".join(group["cases"]))}; '
                 "95% bootstrap intervals over them alone.</p>", _figures_table(group["figures"], cases)]
    if (best := reg["recommended"]) in group["paired"]:  # what the season judges: every other selector against it
        signs = group["paired_signs"][best]
        body = [[name, _interval(d["weighted_spearman"]), _interval(d["regret_points"], digits=1), _signs(signs[name]["spearman"])]
                for name, d in group["paired"][best].items()]
        sections += [f'<p class="muted">Paired to the recommended selector, {escape(best)} (selector minus {escape(best)}, same '
                     "cases; W/T/L: cases where the selector ranked better, the same, worse, with the sign test).</p>",
                     table(["selector", "weighted ρ", "regret (pts)", "ρ W/T/L (p)"], body, numeric={1, 2})]
    return sections


def _figures_table(figures: dict, costs: dict) -> str:
    """Selectors' figures with their CPU cost, averaged over the judged cases of ``costs["cases"]``."""
    header = ["selector"] + [label for _, label, _, _ in FIGURE_COLUMNS] + ["CPU s / strategy"]
    body = [[name] + [_interval(f[key], scale, digits) for key, _, scale, digits in FIGURE_COLUMNS] + [_cost(costs, name)]
            for name, f in figures.items()]
    return table(header, body, numeric=set(range(1, len(header))))


def write_live_report(track: dict, out: str | Path) -> Path:
    """``out``/live_track.html beside the track's Markdown and JSON."""
    path = Path(out) / "live_track.html"
    write_atomic(path, page("Live track: does familiarity predict the fine-tuned outcome?", live_sections(track)))
    return path
