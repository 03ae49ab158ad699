"""The paper track's HTML page (``stylefit bench paper --report``): every selector judged on the paper's cases."""

from __future__ import annotations

from pathlib import Path

from stylefit.bench.live.report import FIGURE_COLUMNS, _interval
from stylefit.data.jsonl import write_atomic
from stylefit.report import plots
from stylefit.report.html import page, table


def paper_sections(track: dict) -> list[str]:
    """The paper track (``paper_track.json``): every selector judged on the paper's cases, and how
    the sample size moves the SPPL aggregates. Its scores are the authors' cached ones: no cost to plot."""
    judged = track["judging"]["all"]
    header = ["selector"] + [label for _, label, _, _ in FIGURE_COLUMNS]
    body = [[name] + [_interval(row["figures"][key], scale, digits) if key in row["figures"] else "-"
                      for key, _, scale, digits in FIGURE_COLUMNS]
            for name, row in judged["selectors"].items()]
    sections = [f"<h2>Selectors on the paper's cases ({judged['n_cases']} cases)</h2>",
                '<p class="muted">95% bootstrap intervals over cases; the scores are the authors\' released ones, '
                "so the track has no cost of its own to compare.</p>", table(header, body, numeric=set(range(1, len(header))))]
    curve = track.get("sample_size_curve") or {}
    if curve:
        sizes = sorted(curve, key=int)
        names = list(curve[sizes[0]]["subsets"]["all"]["aggregates"])
        series = {name: tuple([curve[n]["subsets"]["all"]["aggregates"][name]["figures"]["weighted_spearman"][part] for n in sizes]
                              for part in ("estimate", "low", "high")) for name in names}
        sections += ["<h2>Sample size</h2>", '<div class="figure">' + plots.sample_size_curve(
            [int(n) for n in sizes], series, "weighted Spearman ρ with the fine-tuned accuracy") + "</div>"]
    return sections


def write_paper_report(track: dict, out: str | Path) -> Path:
    """``out``/paper_track.html beside the track's Markdown and JSON."""
    path = Path(out) / "paper_track.html"
    write_atomic(path, page("Paper track: the selectors on the paper's released cases", paper_sections(track)))
    return path
