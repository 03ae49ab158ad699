"""The HTML reports in a real headless browser: they render with no console output, every figure is
drawn, and hostile response text shows as text and never runs. Screenshots land in tmp (and, with
docs/screenshots.py, under docs/)."""

import re

import numpy as np
import pytest

from conftest import write_task
from stylefit import select
from stylefit.report.browser import render
from stylefit.report.html import write_report

pytestmark = pytest.mark.integration

# Each payload, if it ran, would mark the document's body.
HOSTILE = ('<script>document.body.setAttribute("data-pwned", "script")</script>'
           '<img src=x onerror="document.body.setAttribute(\'data-pwned\', \'img\')"> </pre><b>not bold</b>')


def test_reports_render_in_chromium_and_hostile_text_never_runs(tmp_path, tiny_lm):
    from matplotlib.image import imread

    root = write_task(tmp_path / "task", n=6, strategies={"short": lambda r: f"Final Answer: {r['gold']}",
                                                          "hostile": lambda r: f"{HOSTILE}\nFinal Answer: {r['gold']}"})
    from stylefit.data import load_candidates, load_task

    result = select(root, root / "candidates", target=tiny_lm, scorer="ppl", n=6, store=tmp_path / "s.sqlite")
    paths = write_report(tmp_path / "report", selection=result, candidates=load_candidates(load_task(root), root / "candidates"))
    page = render(paths["html"], tmp_path / "shot.png")
    assert page.console == []  # no errors, no warnings, nothing at all
    assert "data-pwned" not in re.search(r"<body[^>]*>", page.dom).group(0)  # no payload ran
    assert 'setAttribute("data-pwned", "script")' in page.dom.replace("&quot;", '"')  # shown as text instead
    assert "<b>not bold</b>" not in page.dom
    figures = re.findall(r"<svg.*?</svg>", page.dom, flags=re.S)
    assert len(figures) == 2 and all(len(re.findall(r"<path", svg)) > 10 for svg in figures)  # drawn, not empty
    pixels = imread(tmp_path / "shot.png")
    assert pixels.shape[:2] == (3000, 1200) and np.std(pixels[:1500]) > 0.05  # the top of the page is not blank


def test_the_console_check_sees_a_page_that_errs(tmp_path):
    """The assertion above could fail: a script error in a page reaches ``console``."""
    page = tmp_path / "err.html"
    page.write_text('<html><body><script>console.error("boom"); notDefined();</script></body></html>')
    lines = render(page).console
    assert any("boom" in line for line in lines) and any("notDefined" in line for line in lines)
