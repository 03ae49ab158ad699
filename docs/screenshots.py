"""Screenshots of the HTML reports, for the README: rendered by headless chromium from committed results.

    python docs/screenshots.py   # docs/report_selection.png, report_paper.png (and report_live.png once the track is judged)
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from stylefit.api import SelectionResult
from stylefit.browser import render
from stylefit.data import load_candidates, load_task
from stylefit.html_report import write_live_report, write_paper_report, write_report

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        selection = SelectionResult.from_dict(json.loads((REPO / "benchmarks/results/select_example_result.json").read_text()))
        candidates = load_candidates(load_task(REPO / "examples/chain_sum"), REPO / "examples/chain_sum/candidates")
        html = write_report(Path(tmp) / "selection", selection=selection, candidates=candidates)["html"]
        render(html, DOCS / "report_selection.png", height=3000)
        print("wrote", DOCS / "report_selection.png")
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
