"""The HTML report of a real selection on a tiny model: self-contained, every figure drawn, hostile text escaped."""

import json
import re

from typer.testing import CliRunner

from conftest import write_task
from stylefit import select
from stylefit.cli import app
from stylefit.report.terminal import write_json

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'


def test_the_report_is_self_contained_and_escapes_what_responses_say(tmp_path, tiny_lm):
    root = write_task(tmp_path / "task", n=6, strategies={
        "short": lambda r: f"Final Answer: {r['gold']}",
        "hostile": lambda r: f"{HOSTILE}\nFinal Answer: {r['gold']}",
    })
    result = select(root, root / "candidates", target=tiny_lm, scorer="ppl", n=6, store=tmp_path / "s.sqlite")
    write_json(result, tmp_path / "result.json")
    invoked = CliRunner().invoke(app, ["report", str(tmp_path / "result.json"), "--out", str(tmp_path / "report"),
                                       "--task", str(root), "--candidates", str(root / "candidates")])
    assert invoked.exit_code == 0, invoked.output
    html = (tmp_path / "report" / "report.html").read_text()
    assert html.count("<svg") == 2  # the forest plot and the per-example distributions
    assert all(len(svg) > 2000 for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S))  # drawn, not empty
    assert "<script" not in html and "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html  # shown as text
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from the network
    for strategy in ("short", "hostile"):
        assert f"<td>{strategy}</td>" in html
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "| 1 |" in markdown and json.loads((tmp_path / "report" / "result.json").read_text())["scorer"] == "ppl"


def test_a_file_that_is_not_a_selection_result_is_a_one_line_error(tmp_path):
    from test_cli import run

    path = tmp_path / "x.json"
    path.write_text('{"cases": []}')
    proc = run(["report", str(path), "--out", str(tmp_path / "out")], tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not a selection" in proc.stderr
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_select_writes_the_report_when_asked(tmp_path, tiny_target):
    from test_cli import run

    root = write_task(tmp_path / "task", n=4)
    proc = run(["select", str(root), str(root / "candidates"), "--model", tiny_target, "--scorer", "length", "--n", "4",
                "--report", str(tmp_path / "report")], tmp_path)
    assert proc.returncode == 0, proc.stderr
    html = (tmp_path / "report" / "report.html").read_text()
    assert html.count("<svg") == 2 and "Responses" in html


def test_selection_and_ground_truth_together_plot_one_against_the_other(tmp_path, tiny_lm, tiny_target):
    import json as json_

    from stylefit.training import verify

    root = write_task(tmp_path / "task", n=6)
    tests = [{"id": f"t{i}", "question": f"What is {i} + 7?", "gold": str(i + 7)} for i in range(4)]
    (root / "test.jsonl").write_text("".join(json_.dumps(r) + "\n" for r in tests))
    spec = json_.loads((root / "task.json").read_text()) | {"test": "test.jsonl"}
    (root / "task.json").write_text(json_.dumps(spec))
    selection = select(root, root / "candidates", target=tiny_lm, scorer="ppl", n=6, store=tmp_path / "s.sqlite")
    truth = verify(root, root / "candidates", targets=tiny_target, seeds=[0, 1], recipe={"epochs": 1, "batch_size": 4},
                   eval_settings={"max_new_tokens": 6}, store=tmp_path / "v.sqlite")
    write_json(selection, tmp_path / "sel.json")
    (tmp_path / "verify.json").write_text(json_.dumps(truth.to_dict()))
    invoked = CliRunner().invoke(app, ["report", str(tmp_path / "sel.json"), str(tmp_path / "verify.json"), "--out", str(tmp_path / "r")])
    assert invoked.exit_code == 0, invoked.output
    html = (tmp_path / "r" / "report.html").read_text()
    assert html.count("<svg") == 4  # forest, distributions, predicted vs measured, ground truth
    assert "Spearman ρ" in html and "Noise floor" in html
    assert "# Ground truth" in (tmp_path / "r" / "report.md").read_text()


def test_verify_writes_the_report_when_asked(tmp_path, tiny_target):
    import json as json_

    from test_cli import run

    root = write_task(tmp_path / "task", n=4)
    (root / "test.jsonl").write_text("".join(json_.dumps({"id": f"t{i}", "question": f"What is {i} + 7?", "gold": str(i + 7)}) + "\n"
                                             for i in range(3)))
    (root / "task.json").write_text(json_.dumps(json_.loads((root / "task.json").read_text()) | {"test": "test.jsonl"}))
    proc = run(["verify", str(root), str(root / "candidates"), "--model", tiny_target, "--seeds", "0", "--epochs", "1",
                "--max-new-tokens", "4", "--strategy", "short", "--strategy", "steps", "--report", str(tmp_path / "report")], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    html = (tmp_path / "report" / "report.html").read_text()
    assert html.count("<svg") == 1 and "Noise floor" in html


def test_the_paper_track_report_has_its_table_and_sample_size_curve(tmp_path):
    from pathlib import Path

    from stylefit.bench.paper.html import write_paper_report

    track = json.loads((Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "paper_track.json").read_text())
    html = write_paper_report(track, tmp_path).read_text()
    assert html.count("<svg") == 1 and "<td>SPPL k=2 (paper)</td>" in html and "Sample size" in html
