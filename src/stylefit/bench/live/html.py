"""The live track's HTML page (``stylefit bench live --report``): which selector to trust, then every case."""

from __future__ import annotations

from html import escape
from pathlib import Path

from stylefit.bench.live.report import FIGURE_COLUMNS, SELECTOR_COLUMNS, _cost, _interval, selector_rows
from stylefit.data.jsonl import write_atomic
from stylefit.report import plots
from stylefit.report.html import page, table
from stylefit.training.runs import device_kind
from stylefit.training.summary import CUT_FLAG


def live_sections(track: dict) -> list[str]:
    """The live track (``live_track.json``): which selector to trust first (what a reader came for), then every case."""
    sections = []
    if track["figures"]:
        header = ["selector"] + [label for _, label, _, _ in FIGURE_COLUMNS] + ["CPU s / strategy"]
        body = [[name] + [_interval(figures[key], scale, digits) for key, _, scale, digits in FIGURE_COLUMNS] + [_cost(track, name)]
                for name, figures in track["figures"].items()]
        sections += [f"<h2>Which selector to trust ({track['judged_cases']} judged cases)</h2>",
                     '<p class="muted">95% bootstrap intervals over cases (none with fewer than 2 cases).</p>',
                     table(header, body, numeric=set(range(1, len(header))))]
        costed = [(name, f["weighted_spearman"]) for name, f in track["figures"].items() if _cost(track, name) != "-"]
        if costed:
            sections.append('<div class="figure">' + plots.quality_vs_cost(
                [n for n, _ in costed], [f["estimate"] for _, f in costed], [f["low"] for _, f in costed],
                [f["high"] for _, f in costed], [float(_cost(track, n)) for n, _ in costed],
                "weighted Spearman ρ with the fine-tuned accuracy") + "</div>")
    for case in track["cases"]:
        rows = sorted(case["accuracy"].items(), key=lambda kv: kv[1]["rank"])
        sd = lambda a: a["sd"] or 0.0
        sections += [f"<h2>{escape(case['case'])}: accuracy after fine-tuning ({escape(case['target'])})</h2>",
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
                            f'({escape(str(case.get("eval", track["eval"]).get("max_new_tokens")))}): their accuracy measures the limit '
                            "as much as the strategy.</p>")
        if len(kinds := sorted({device_kind(d) for d in case["devices"].values()})) > 1:
            sections.append(f"<p><strong>Mixed devices, not judged:</strong> this case's runs ran on {escape(' and '.join(kinds))}, "
                            "whose answers differ in near ties.</p>")
        if case.get("outcomes"):
            sections.append(table(list(SELECTOR_COLUMNS), selector_rows(case), numeric={2, 3, 4}))
    if track["incomplete"]:
        sections += ["<h2>Not judged yet</h2>", "<ul>" + "".join(f"<li>{escape(x)}</li>" for x in track["incomplete"]) + "</ul>"]
    return sections


def write_live_report(track: dict, out: str | Path) -> Path:
    """``out``/live_track.html beside the track's Markdown and JSON."""
    path = Path(out) / "live_track.html"
    write_atomic(path, page("Live track: does familiarity predict the fine-tuned outcome?", live_sections(track)))
    return path
