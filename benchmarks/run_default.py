"""What `stylefit run`'s default selector costs on the bundled example, against the cheap screen.

    python benchmarks/run_default.py   # writes benchmarks/results/run_default.md and .json (about 20 min on 2 cores)

The bundled task's five strategies (those of examples/chain_sum/run.toml), SmolLM2-135M-Instruct as target
and teacher, twice, each with nothing cached (its own fresh cache file; the converted model files are
shared): once with `run`'s default scorer (the proxy on n = 100, the settings the live track judged as
proxy-paper) and once with `scorer = "sppl"` on n = 50, the example's own config. Each is then run again
on its warm cache, which must compute nothing. Per run: the stage seconds, the pick and its margin.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from stylefit.data.jsonl import write_atomic

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "chain_sum"
RESULTS = REPO / "benchmarks" / "results"
EXAMPLE_RUN = tomllib.loads((EXAMPLE / "run.toml").read_text(encoding="utf-8"))  # the strategies and target run here
RUNS = {"default (proxy, n = 100)": {}, "sppl, n = 50": {"scorer": "sppl", "n": 50}}


def config(folder: Path, fields: dict) -> Path:
    values = {"task": str(EXAMPLE), "target": EXAMPLE_RUN["target"], "recipes": [str(EXAMPLE / r) for r in EXAMPLE_RUN["recipes"]],
              "strategies": EXAMPLE_RUN["strategies"], "full_size": 150} | fields
    path = folder / "run.toml"
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()), encoding="utf-8")
    return path


def once(path: Path, out: Path, cache: Path) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "stylefit", "run", str(path), "--out", str(out), "--cache", str(cache)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"stylefit run failed: {done.stderr.strip().splitlines()[-1]}")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    selection = json.loads((out / "selection.json").read_text(encoding="utf-8"))
    return {"wall_s": time.perf_counter() - start, "stages_s": manifest["timings"], "decision": manifest["decision"],
            "scorer": selection["scorer"], "n": manifest["config"]["n"], "computed": selection["computed"],
            "ranking": [{"strategy": e["strategy"], "mean": e["mean"], "ci": [e["ci_low"], e["ci_high"]]}
                        for e in selection["ranking"]["estimates"]]}


def render(result: dict) -> str:
    lines = ["# `stylefit run` on the bundled example: the default selector against the cheap screen", "",
             "Produced by `python benchmarks/run_default.py`; one machine, one run each (no spread across repeats). "
             f"Task examples/chain_sum, target and teacher SmolLM2-135M-Instruct, {len(result['strategies'])} strategies "
             f"({', '.join(result['strategies'])}); full_size 150. Cold: a fresh cache; warm: the same run again.", "",
             "| run | scorer | n | sample s | select s | full s | cold wall s | warm wall s | computed warm | pick |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in result["runs"].items():
        cold, warm = r["cold"], r["warm"]
        s = cold["stages_s"]
        lines.append(f"| {name} | {cold['scorer']} | {cold['n']} | {s['sample_s']:.0f} | {s['select_s']:.0f} | {s['full_s']:.0f} | "
                     f"{cold['wall_s']:.0f} | {warm['wall_s']:.0f} | {warm['computed']} | {cold['decision']} |")
    names = list(result["runs"])
    ratio = result["runs"][names[0]]["cold"]["wall_s"] / result["runs"][names[1]]["cold"]["wall_s"]
    lines += ["", f"Cold, the default costs {ratio:.1f}x the sppl run's wall time in this run.", ""]
    for name, r in result["runs"].items():
        lines += [f"Ranking by {name} (mean per example, 95% paired-bootstrap interval):", ""]
        lines += [f"- {e['strategy']}: {e['mean']:.3f} [{e['ci'][0]:.3f}, {e['ci'][1]:.3f}]" for e in r["cold"]["ranking"]] + [""]
    return "\n".join(lines)


def main() -> int:
    result = {"strategies": EXAMPLE_RUN["strategies"], "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, fields) in enumerate(RUNS.items()):
            folder = Path(tmp) / str(i)
            folder.mkdir()
            path, cache = config(folder, fields), folder / "cache.sqlite"
            print(f"{name}: cold", flush=True)
            cold = once(path, folder / "out", cache)
            print(f"{name}: warm", flush=True)
            result["runs"][name] = {"cold": cold, "warm": once(path, folder / "out", cache)}
    write_atomic(RESULTS / "run_default.json", json.dumps(result, indent=1) + "\n")
    write_atomic(RESULTS / "run_default.md", render(result))
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
