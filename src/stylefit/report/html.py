"""The report people look at: one self-contained HTML file (figures inline as SVG, no script, no
network), a Markdown summary for terminals and CI logs, and the JSON results beside them. The page
shell and tables here are shared with the benchmark tracks' pages (``stylefit.bench.*.html``).

Every piece of text that came from data (strategy names, responses, notes) is HTML-escaped: a
response holding markup shows as text and never runs.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import numpy as np

from stylefit.data.candidates import CandidateSet
from stylefit.data.jsonl import write_atomic
from stylefit.report import plots
from stylefit.report.terminal import STAGE_COLUMNS, _fmt, adaptive_lines, ranking_text, stage_caption, stage_rows, verdict_lines
from stylefit.selection.adaptive import AdaptiveResult
from stylefit.selection.select import SelectionResult
from stylefit.training.summary import cut_flagged

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5rem 0; } td, th { padding: 0.25rem 0.6rem; border-bottom: 1px solid #eee; }
th { text-align: left; background: #f6f6f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table { font-size: 0.9rem; }
.verdict { font-size: 1.05rem; padding: 0.6rem 0.8rem; background: #eef5fb; border-left: 4px solid #0072B2; }
.figure svg { max-width: 100%; height: auto; }
.scroll { overflow-x: auto; }
.responses { display: grid; grid-template-columns: repeat(3, 1fr); gap: 0.5rem; }
pre { white-space: pre-wrap; word-break: break-word; background: #f8f8f8; padding: 0.5rem; margin: 0; font-size: 0.85rem; }
.muted { color: #666; font-size: 0.9rem; }
"""


def table(header: list[str] | None, rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    head = "" if header is None else "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr></thead>"
    body = "".join("<tr>" + "".join(f'<td class="num">{escape(c)}</td>' if i in numeric else f"<td>{escape(c)}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f'<div class="scroll"><table>{head}<tbody>{body}</tbody></table></div>'


def page(title: str, sections: list[str]) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{''.join(sections)}</body></html>\n")


def selection_html(result: SelectionResult, candidates: CandidateSet | None = None) -> str:
    return page(f"{result.task}: which strategy does {result.target} learn best from?", selection_sections(result, candidates))


def selection_sections(result: SelectionResult, candidates: CandidateSet | None = None) -> list[str]:
    """A selection: verdict, forest plot, distributions, table, example responses, manifest."""
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
        table(["rank", "strategy", "statistic", "95% CI", "P(best)", "mean NLL", "median", "tokens"],
               [[str(e.rank), e.strategy, _fmt(e.mean), f"[{_fmt(e.ci_low)}, {_fmt(e.ci_high)}]", plots.share(e.p_best),
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
                ["chat template", result.template_id or "-"],
                ["dtype", result.dtype], ["scorer", result.scorer], ["scorer parameters", json.dumps(result.scorer_params)],
                ["questions scored", str(len(result.sample_ids))], ["questions skipped", str(len(result.skipped))],
                ["scores computed in this run", str(result.computed)],
                ["seconds", ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())],
                ["versions", ", ".join(f"{k} {v}" for k, v in result.versions.items()) or "-"]]
    sections += ["<h2>Run</h2>", table(None, manifest)]
    if result.notes:
        sections.append("<ul>" + "".join(f"<li>{escape(n)}</li>" for n in result.notes) + "</ul>")
    return sections


def verify_sections(verify: dict) -> list[str]:
    """The ground truth (a ``verify --out`` result): per case, accuracies with intervals and the noise floor."""
    sections = []
    for case in verify["cases"]:
        rows = sorted(case["strategies"], key=lambda a: a["rank"])
        sections += [f"<h2>Ground truth: {escape(case['task'])} fine-tuned on each strategy ({escape(case['target'])})</h2>",
                     '<div class="figure">' + plots.forest([a["strategy"] for a in rows], [100 * a["mean"] for a in rows],
                                                           [100 * a["ci_low"] for a in rows], [100 * a["ci_high"] for a in rows],
                                                           None, f"{case['metric']} test accuracy (%), n_test = {case['n_test']}, "
                                                           f"95% interval (seeds and test items)") + "</div>",
                     table(["rank", "strategy", "mean %", "sd over seeds", "per seed %", "answers cut per seed"],
                            [[str(a["rank"]), a["strategy"], f"{100 * a['mean']:.1f}", _sd(a),
                              " ".join(f"{100 * x:.1f}" for x in a["accuracies"]), _cut(a, case["n_test"])] for a in rows],
                            numeric={0, 2, 3})]
        noise = case["noise"]
        seed_sd = "-" if noise["seed_std"] is None else f"{100 * noise['seed_std']:.1f}"
        base = f"; base model {100 * case['base']['accuracy']:.1f}%" if case.get("base") else ""
        sections.append(f'<p class="muted">Noise floor: one run strays by sd {100 * noise["run_sd"]:.1f} points '
                        f"(seeds {escape(seed_sd)}, test items {100 * noise['binomial_se']:.1f}){escape(base)}.</p>")
    return sections


def _cut(row: dict, n_test: int) -> str:
    """Test answers cut by max_new_tokens per seed, flagged above the share where a run measures the limit."""
    cuts, loops = row.get("cut_per_seed", []), row.get("looping_per_seed") or [0] * len(row.get("cut_per_seed", []))
    return " ".join(map(str, cuts)) + (f" ({' '.join(map(str, loops))} looping)" if any(loops) else "") \
        + (" (cut!)" if any(cut_flagged(c, n_test, l) for c, l in zip(cuts, loops)) else "")


def agreement_sections(selection: SelectionResult, verify: dict) -> list[str]:
    """The selector's prediction against the measured accuracy, for the strategies both cover."""
    from scipy.stats import spearmanr

    sections = []
    predicted = {e.strategy: e.mean for e in selection.ranking.estimates}
    for case in verify["cases"]:
        rows = [a for a in case["strategies"] if a["strategy"] in predicted]
        if len(rows) < 2:
            continue
        sign = 1.0 if selection.higher_is_better else -1.0
        accuracy = [a["mean"] for a in rows]
        if len(set(accuracy)) == 1:
            title = f"Spearman ρ undefined: every strategy has the same accuracy ({len(rows)} strategies)"
        else:
            rho = spearmanr([sign * predicted[a["strategy"]] for a in rows], accuracy).statistic
            title = (f"Spearman ρ = {rho:.2f} between the {selection.scorer} preference and accuracy "
                     f"({len(rows)} strategies; error bars: sd over seeds)")
        sections += [f"<h2>Predicted against measured ({escape(case['target'])})</h2>",
                     '<div class="figure">' + plots.predicted_vs_measured(
                         [a["strategy"] for a in rows], [predicted[a["strategy"]] for a in rows], [a["mean"] for a in rows],
                         [a["std"] or 0.0 for a in rows], f"{selection.scorer}: {selection.unit}", title) + "</div>"]
    return sections


def selection_markdown(result: SelectionResult) -> str:
    r = result.ranking
    lines = [f"# {result.task}: strategies ranked by {result.scorer} under {result.target}", "",
             *verdict_lines(result), "", f"N = {r.n} questions, {r.n_bootstrap} paired bootstrap resamples (seed {r.seed}).", "",
             "| rank | strategy | statistic | 95% CI | P(best) |", "|---|---|---|---|---|"]
    lines += [f"| {e.rank} | {e.strategy} | {_fmt(e.mean)} | [{_fmt(e.ci_low)}, {_fmt(e.ci_high)}] | {e.p_best:.2f} |"
              for e in r.estimates]
    return "\n".join(lines + [""] + [f"note: {n}" for n in result.notes]) + "\n"


def _sd(a: dict) -> str:
    return "-" if a["std"] is None else f"{100 * a['std']:.1f}"


def verify_markdown(verify: dict) -> str:
    lines = []
    for case in verify["cases"]:
        lines += [f"# Ground truth: {case['task']} on {case['target']} (n_test = {case['n_test']}, {case['metric']})", "",
                  "| rank | strategy | mean % | sd over seeds |", "|---|---|---|---|"]
        lines += [f"| {a['rank']} | {a['strategy']} | {100 * a['mean']:.1f} | {_sd(a)} |"
                  for a in sorted(case["strategies"], key=lambda a: a["rank"])]
        lines.append("")
    return "\n".join(lines)


def write_report(out: str | Path, selection: SelectionResult | None = None, verify: dict | None = None,
                 candidates: CandidateSet | None = None) -> dict[str, Path]:
    """``out``/report.html and report.md, with the results beside them (result.json for the
    selection, verify.json for the ground truth); returns the paths written."""
    if selection is None and verify is None:
        raise ValueError("nothing to report")
    out = Path(out)
    paths = {"html": out / "report.html", "md": out / "report.md"}
    sections, markdown = [], []
    if selection is not None:
        paths["json"] = out / "result.json"
        write_atomic(paths["json"], json.dumps(selection.to_dict(), indent=2, ensure_ascii=False) + "\n")
        sections += selection_sections(selection, candidates)
        markdown.append(selection_markdown(selection))
    if verify is not None:
        paths["verify"] = out / "verify.json"
        write_atomic(paths["verify"], json.dumps(verify, indent=1, ensure_ascii=False) + "\n")
        if selection is not None:
            sections += agreement_sections(selection, verify)
        sections += verify_sections(verify)
        markdown.append(verify_markdown(verify))
    title = (f"{selection.task}: which strategy does {selection.target} learn best from?" if selection is not None
             else f"{verify['cases'][0]['task']}: fine-tuned accuracy of each strategy")
    write_atomic(paths["md"], "\n".join(markdown))
    write_atomic(paths["html"], page(title, sections))
    return paths


def write_adaptive_report(result: AdaptiveResult, out: str | Path, candidates: CandidateSet | None = None) -> dict[str, Path]:
    """``out``/report.html and report.md for the adaptive selector: its decision, each stage, then
    its screen's full selection report; result.json beside them."""
    out = Path(out)
    paths = {"html": out / "report.html", "md": out / "report.md", "json": out / "result.json"}
    write_atomic(paths["json"], json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    sections = ["<h2>Decision</h2>", *(f"<p>{escape(line)}</p>" for line in adaptive_lines(result))]
    markdown = [f"# {result.task}: the adaptive selector under {result.target}", "", *adaptive_lines(result), ""]
    for stage in result.stages:
        rows = stage_rows(stage)
        sections += [f"<h2>{escape(stage.name)}</h2>", f'<p class="muted">{escape(stage_caption(stage))}</p>',
                     table(STAGE_COLUMNS, rows, {0, 2, 3, 4, 5})]
        sections += [f'<p class="muted">{escape(note)}</p>' for note in stage.notes]
        markdown += [f"## {stage.name}", "", "| " + " | ".join(STAGE_COLUMNS) + " |", "|" + "---|" * len(STAGE_COLUMNS),
                     *("| " + " | ".join(row) + " |" for row in rows), ""]
    sections += ["<h2>The screen in full</h2>", *selection_sections(result.screen, candidates)]
    write_atomic(paths["md"], "\n".join(markdown) + "\n")
    write_atomic(paths["html"], page(f"{result.task}: which strategy does {result.target} learn best from?", sections))
    return paths


def write_selection_report(result: SelectionResult, out: str | Path, candidates: CandidateSet | None = None) -> dict[str, Path]:
    return write_report(out, selection=result, candidates=candidates)
