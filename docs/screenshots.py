"""Screenshots of the HTML reports, for the README: rendered by headless chromium from committed results.

    python docs/screenshots.py   # docs/report_selection.png, report_verify.png, report_paper.png, report_live.png

report_verify.png is the live track's products case as `stylefit report` draws a selection together
with its ground truth (what `stylefit run` and `verify --report` write): read from the committed
runs and scores, nothing is trained.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from stylefit.api import SelectionResult
from stylefit.bench.live.html import write_live_report
from stylefit.bench.live.config import load_live_config
from stylefit.bench.live.runs import CommittedRuns
from stylefit.bench.paper.html import write_paper_report
from stylefit.data import load_candidates, load_task
from stylefit.report.browser import render
from stylefit.report.html import write_report
from stylefit.training import verify

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        selection = SelectionResult.from_dict(json.loads((REPO / "benchmarks/results/select_example_result.json").read_text()))
        candidates = load_candidates(load_task(REPO / "examples/chain_sum"), REPO / "examples/chain_sum/candidates")
        html = write_report(Path(tmp) / "selection", selection=selection, candidates=candidates)["html"]
        render(html, DOCS / "report_selection.png", height=3000)
        print("wrote", DOCS / "report_selection.png")
        config = load_live_config(REPO / "benchmarks/live/live.toml")
        case = next(c for c in config.cases if c.name == "products-smollm2")
        folder = config.path(config.results) / case.name
        task = load_task(config.path(case.task))
        files = [folder / "candidates" / f"{s}.jsonl" for s in case.strategies]
        truth = verify(task, files, targets=case.target, seeds=config.seeds, recipe=config.recipe, eval_settings=config.eval,
                       n_train=case.n_train, n_test=case.n_test, dtype=config.dtype,
                       store=CommittedRuns(Path(tmp) / "runs.sqlite", shutil.copytree(folder / "runs", Path(tmp) / "runs")))
        if truth.computed:  # trained into the copy, never into the committed results
            raise SystemExit(f"{case.name}: {truth.computed} runs were not committed")
        selection = SelectionResult.from_dict(json.loads((folder / "scores" / "sppl.json").read_text())["selection"])
        html = write_report(Path(tmp) / "verify", selection=selection, verify=truth.to_dict(),
                            candidates=load_candidates(task, files))["html"]
        render(html, DOCS / "report_verify.png", height=4600)
        print("wrote", DOCS / "report_verify.png")
        html = write_paper_report(json.loads((REPO / "benchmarks/results/paper_track.json").read_text()), Path(tmp) / "paper")
        render(html, DOCS / "report_paper.png", height=2200)
        print("wrote", DOCS / "report_paper.png")
        track = REPO / "benchmarks/results/live_track.json"
        if track.is_file():
            html = write_live_report(json.loads(track.read_text()), Path(tmp) / "live")
            render(html, DOCS / "report_live.png", height=3000)
            print("wrote", DOCS / "report_live.png")


if __name__ == "__main__":
    main()
