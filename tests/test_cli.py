"""The real CLI, run as a user would: the bundled example with the real default model, and bad input."""

import json
import os
import subprocess
import sys

import pytest

from conftest import EXAMPLE


def run(args, tmp_path, home=None):
    env = os.environ | {"STYLEFIT_HOME": str(home or tmp_path / "home"), "COLUMNS": "160"}
    return subprocess.run([sys.executable, "-m", "stylefit", *args], capture_output=True, text=True, env=env, timeout=900)


@pytest.mark.integration
def test_select_on_the_bundled_example_with_the_default_model(tmp_path):
    home = os.environ.get("STYLEFIT_HOME") or tmp_path / "home"  # reuse a developer's cache when set
    out = tmp_path / "result.json"
    proc = run(["select", str(EXAMPLE), str(EXAMPLE / "candidates"), "--scorer", "sppl", "--n", "50", "--out", str(out)], tmp_path, home)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    estimates = result["ranking"]["estimates"]
    assert result["target"] == "smollm2-135m-instruct"
    assert result["revision"] == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert len(estimates) == 5 and result["ranking"]["n"] == 50
    assert all(1.0 < e["mean"] < 1000 and e["ci_low"] <= e["mean"] <= e["ci_high"] for e in estimates)
    assert [e["mean"] for e in estimates] == sorted(e["mean"] for e in estimates)
    # A minimal answer is the least familiar thing to a chatty 135M model: far from its own style.
    assert estimates[-1]["strategy"] == "answer_only"
    assert any("zero-shot answers correct" in n for n in result["notes"])
    assert "strategies ranked by sppl" in proc.stdout and "P(best)" in proc.stdout

    rerun = run(["select", str(EXAMPLE), str(EXAMPLE / "candidates"), "--scorer", "sppl", "--n", "50"], tmp_path, home)
    assert rerun.returncode == 0 and "0 per-example scores computed" in rerun.stdout


def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path):
    cands = tmp_path / "cands"
    cands.mkdir()
    for name in ("a", "b"):
        (cands / f"{name}.jsonl").write_text((EXAMPLE / "candidates" / "worked_steps.jsonl").read_text())
    (cands / "b.jsonl").write_text((cands / "b.jsonl").read_text() + "{not json\n")
    out = tmp_path / "r.json"
    proc = run(["select", str(EXAMPLE), str(cands), "--out", str(out)], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == f"error: {cands / 'b.jsonl'}:201: not valid JSON (Expecting property name enclosed in double quotes at column 2)"
    assert not out.exists()


@pytest.mark.parametrize("args,message", [
    (["--scorer", "pplx"], "error: unknown scorer 'pplx' (known: alignment, grace, ifd, length, local, ppl, proxy, rsr, sppl)"),
    (["--scorer", "ppl", "--k", "3"], "error: scorer 'ppl': "),
    (["--model", "no-such-model"], "error: unknown model 'no-such-model': not a registered name"),
    (["--scorer", "sppl", "--variant", "fancy"], "error: sppl: unknown variant 'fancy'"),
    (["--variant", "fancy"], "error: scorer 'ppl': "),  # the default scorer takes no variant: said, not ignored
    (["--device", "gpu"], "error: unknown device 'gpu' (known: auto, cpu, cuda, cuda:N)"),
    (["--bogus"], "Error: No such option: --bogus"),  # a usage error, whichever click typer runs on: no traceback
    (["-o", "x.json"], "Error: No such option: -o"),  # -o names a folder wherever it exists; select writes a file (--out)
    (["--dtype", "fp8"], "error: unknown dtype 'fp8' (known: auto, float32, bfloat16, float16)"),
    pytest.param(["--device", "cuda"], "error: device 'cuda': no CUDA device is visible",
                 marks=pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")),
])
def test_unknown_names_are_clear_errors(tmp_path, args, message):
    proc = run(["select", str(EXAMPLE), str(EXAMPLE / "candidates"), *args], tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(message)


def test_models_and_scorers_are_listed(tmp_path):
    proc = run(["models"], tmp_path)
    assert proc.returncode == 0 and "smollm2-135m-instruct" in proc.stdout and "qwen2.5-coder-0.5b-instruct" in proc.stdout
    proc = run(["scorers"], tmp_path)
    assert proc.returncode == 0 and all(name in proc.stdout for name in ("ppl", "ifd", "length", "sppl", "alignment", "rsr", "local", "grace", "proxy"))


def test_select_options_reach_the_model_and_the_scorer(tmp_path):
    from conftest import char_tokenizer, tiny_llama, write_task

    task = write_task(tmp_path / "task")
    folder = tmp_path / "tiny-model"
    tiny_llama(seed=0).save_pretrained(folder)
    char_tokenizer().save_pretrained(folder)
    out = tmp_path / "r.json"
    proc = run(["select", str(task), str(task / "candidates"), "--model", str(folder), "--scorer", "sppl", "--n", "4",
                "--m", "6", "--k", "2", "-p", "max_new_tokens=6", "--variant", "paper", "--paper-wrapper", "mistral",
                "--exclude-own-answer", "--device", "cpu", "--dtype", "bfloat16", "--token-budget", "32", "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["dtype"] == "bfloat16" and "(bfloat16)" in proc.stdout
    assert result["scorer_params"] == {"k": 2, "variant": "paper", "paper_wrapper": "mistral", "exclude_own_answer": True}
