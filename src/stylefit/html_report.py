"""The report people look at: one self-contained HTML file (figures inline as SVG, no script, no
network), a Markdown summary for terminals and CI logs, and the JSON results beside them.

Every piece of text that came from data (strategy names, responses, notes) is HTML-escaped: a
response holding markup shows as text and never runs.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import numpy as np

from stylefit import plots
from stylefit.api import SelectionResult
from stylefit.data.candidates import CandidateSet
from stylefit.data.jsonl import write_atomic
from stylefit.report import _fmt, ranking_text, verdict_lines

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5rem 0; } td, th { padding: 0.25rem 0.6rem; border-bottom: 1px solid #eee; }
th { text-align: left; background: #f6f6f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { font-size: 1.05rem; padding: 0.6rem 0.8rem; background: #eef5fb; border-left: 4px solid #0072B2; }
.figure svg { max-width: 100%; height: auto; }
.responses { display: grid; grid-template-columns: repeat(3, 1fr); gap: 0.5rem; }
pre { white-space: pre-wrap; word-break: break-word; background: #f8f8f8; padding: 0.5rem; margin: 0; font-size: 0.85rem; }
.muted { color: #666; font-size: 0.9rem; }
"""


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="num">{escape(c)}</td>' if i in numeric else f"<td>{escape(c)}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _page(title: str, sections: list[str]) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{''.join(sections)}</body></html>\n")


def selection_html(result: SelectionResult, candidates: CandidateSet | None = None) -> str:
    """A selection's report: verdict, forest plot, distributions, table, example responses, manifest."""
    r = result.ranking
    order = [e.strategy for e in r.estimates]
    preferred = "higher" if result.higher_is_better else "lower"
    axis = f"{result.scorer}: {result.unit} ({preferred} is preferred)"
    sections = [
        f'<p class="verdict">{"<br>".join(escape(line) for line in verdict_lines(result))}</p>',
        f'<p class="muted">Ranking: {escape(ranking_text(r))}. N = {r.n} questions, {r.n_bootstrap} paired bootstrap '
        f"resamples (seed {r.seed}); intervals are 95% percentile intervals of each strategy's statistic.</p>",
        "<h2>Ranking</h2>",
        '<div class="figure">' + plots.forest(order, [e.mean for e in r.estimates], [e.ci_low for e in r.estimates],
                                              [e.ci_high for e in r.estimates], [e.p_best for e in r.estimates], axis) + "</div>",
        _table(["rank", "strategy", "statistic", "95% CI", "P(best)", "mean NLL", "median", "tokens"],
               [[str(e.rank), e.strategy, _fmt(e.mean), f"[{_fmt(e.ci_low)}, {_fmt(e.ci_high)}]", f"{e.p_best:.2f}",
                 _fmt(e.mean_nll), _fmt(e.median), f"{e.mean_tokens:.0f}"] for e in r.estimates], numeric={0, 2, 4, 5, 6, 7}),
    ]
    if result.per_example:
        sections += ["<h2>Per-example scores</h2>",
                     '<div class="figure">' + plots.distributions(order, [result.per_example[s]["value"] for s in order],
                                                                  f"per-example {result.unit}") + "</div>"]
    if candidates is not None and result.per_example:
        sections += ["<h2>Responses</h2>", '<p class="muted">Per strategy, the sampled responses with the lowest, '
                     "median and highest score.</p>"]
        for strategy in order:
            values = np.asarray(result.per_example[strategy]["value"])
            picks = [int(np.argmin(values)), int(np.argsort(values)[len(values) // 2]), int(np.argmax(values))]
            cells = []
            for label, i in zip(("lowest", "median", "highest"), picks):
                c = candidates.by_strategy[strategy][result.sample_ids[i]]
                cells.append(f"<div><div class='muted'>{label}: {escape(_fmt(float(values[i])))} "
                             f"(id {escape(c.id)})</div><pre>{escape(c.response)}</pre></div>")
            sections.append(f"<h3>{escape(strategy)}</h3><div class='responses'>{''.join(cells)}</div>")
    manifest = [["task", result.task], ["target", result.target], ["revision", result.revision[:16]],
                ["dtype", result.dtype], ["scorer", result.scorer], ["scorer parameters", json.dumps(result.scorer_params)],
                ["questions scored", str(len(result.sample_ids))], ["questions skipped", str(len(result.skipped))],
                ["scores computed in this run", str(result.computed)],
                ["seconds", ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())]]
    sections += ["<h2>Run</h2>", _table(["", ""], manifest)]
    if result.notes:
        sections.append("<ul>" + "".join(f"<li>{escape(n)}</li>" for n in result.notes) + "</ul>")
    return _page(f"{result.task}: which strategy does {result.target} learn best from?", sections)


def selection_markdown(result: SelectionResult) -> str:
    r = result.ranking
    lines = [f"# {result.task}: strategies ranked by {result.scorer} under {result.target}", "",
             *verdict_lines(result), "", f"N = {r.n} questions, {r.n_bootstrap} paired bootstrap resamples (seed {r.seed}).", "",
             "| rank | strategy | statistic | 95% CI | P(best) |", "|---|---|---|---|---|"]
    lines += [f"| {e.rank} | {e.strategy} | {_fmt(e.mean)} | [{_fmt(e.ci_low)}, {_fmt(e.ci_high)}] | {e.p_best:.2f} |"
              for e in r.estimates]
    return "\n".join(lines + [""] + [f"note: {n}" for n in result.notes]) + "\n"


def write_selection_report(result: SelectionResult, out: str | Path, candidates: CandidateSet | None = None) -> dict[str, Path]:
    """``out``/report.html, report.md and result.json; returns their paths."""
    out = Path(out)
    paths = {"html": out / "report.html", "md": out / "report.md", "json": out / "result.json"}
    write_atomic(paths["json"], json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    write_atomic(paths["md"], selection_markdown(result))
    write_atomic(paths["html"], selection_html(result, candidates))
    return paths
