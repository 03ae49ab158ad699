"""Reliability figures (issue 14) -> benchmarks/results/reliability.md and .json.

    python benchmarks/reliability.py [--only kills,concurrency,bad_input,corpus] [--kills 5] [--seed 0]

Every command runs as a real `stylefit` process on the real SmolLM2-135M-Instruct, on the bundled
example, in a fresh folder with its own cache:

- **kills**: per command, one uninterrupted reference run, a second one (determinism: same inputs,
  same bits), then ``--kills`` runs killed with SIGKILL at seeded random points (uniform over 25-95%
  of the reference's wall time), each rerun to completion. After each kill: are the files it left
  whole, and is the cache intact? After each rerun: is its output identical to the reference, and how
  many cached items were computed a second time (the store counts every row's writes)?
- **concurrency**: two `select` and two `generate` processes started together on one cache.
- **bad_input**: hand-made bad inputs through the CLI: exit code, one line naming the item, no
  traceback, nothing written.
- **corpus**: the generated (hypothesis) corpus of tests/test_bad_input_corpus.py, tallied.

Finished sections are kept in the JSON and not run again (delete it, or pass --only, to rerun).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
EXAMPLE = REPO / "examples" / "chain_sum"
STYLEFIT = [sys.executable, "-m", "stylefit"]
MODEL = "smollm2-135m-instruct"
# Fields that describe a run rather than its result: times, places, counters of cached work.
VOLATILE = {"timings", "seconds", "host", "pid", "finished_at", "computed", "train_s", "validation_s", "resumed_from_step",
            "generation_s", "verification_s", "total_s", "load_s", "gold_loss_s", "out", "created", "versions", "cache",
            "generated_tokens", "run_seconds", "selector_seconds"}
sys.path.insert(0, str(REPO / "src"))
from stylefit.data.jsonl import write_atomic  # noqa: E402


# ---- the commands under test -------------------------------------------------------------------

def commands(work: Path) -> dict[str, list[str]]:
    """Each command's argv, writing into ``work`` (its config files written there too)."""
    strategies = EXAMPLE / "strategies.toml"
    (work / "run.toml").write_text(f"""task = "{EXAMPLE}"
recipes = ["{strategies}"]
strategies = ["self_corrected", "worked_steps", "answer_only"]
n = 8
full_size = 16
scorer = "ppl"
[verify]
baseline = "answer_only"
seeds = [0]
recipe = {{ epochs = 1, batch_size = 4 }}
n_test = 8
max_new_tokens = 64
base = false
""")
    (work / "live.toml").write_text(f"""results = "results"
n_select = 8
seeds = [0]
recipe = {{ epochs = 1, batch_size = 4 }}
eval = {{ max_new_tokens = 64 }}
dtype = "float32"
[[selectors]]
name = "ppl"
scorer = "ppl"
[[selectors]]
name = "length"
scorer = "length"
[[cases]]
name = "chain_sum"
task = "{EXAMPLE}"
target = "{MODEL}"
strategies = ["answer_only", "worked_steps"]
recipes = ["{strategies}"]
n_train = 16
n_test = 8
""")
    cache = ["--cache", str(work / "cache.sqlite")]
    return {
        "select": [*STYLEFIT, "select", str(EXAMPLE), str(EXAMPLE / "candidates"), "--scorer", "sppl", "--n", "16",
                   "--out", str(work / "out" / "select.json"), *cache],
        "generate": [*STYLEFIT, "generate", str(EXAMPLE), "-r", str(strategies), "-s", "self_corrected", "-s", "smol_steps",
                     "--n", "24", "--out", str(work / "out"), *cache],
        "run": [*STYLEFIT, "run", str(work / "run.toml"), "--out", str(work / "out"), *cache],
        "verify": [*STYLEFIT, "verify", str(EXAMPLE), str(EXAMPLE / "candidates"), "--strategy", "answer_only",
                   "--strategy", "worked_steps", "--seeds", "0", "--n-train", "16", "--n-test", "8", "--epochs", "2",
                   "--batch-size", "4", "--max-new-tokens", "64", "--no-base", "--checkpoint-every", "2",
                   "--out", str(work / "out" / "verify.json"), *cache],
        "bench live": [*STYLEFIT, "bench", "live", str(work / "live.toml"), "--out", str(work / "out"), *cache],
    }


def fresh(root: Path, name: str) -> Path:
    """A new work folder with its own STYLEFIT_HOME, sharing only the converted model files."""
    work = Path(tempfile.mkdtemp(prefix=name.replace(" ", "_") + "-", dir=root))
    home = work / "home"
    home.mkdir()
    for shared in ("models", "gguf"):
        (home / shared).symlink_to(real_home() / shared)
    return work


def real_home() -> Path:
    from stylefit.core.store import stylefit_home

    return stylefit_home()


def start(argv: list[str], work: Path, threads: int = 2) -> subprocess.Popen:
    env = os.environ | {"STYLEFIT_HOME": str(work / "home"), "OMP_NUM_THREADS": str(threads), "COLUMNS": "160",
                        "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen(argv, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def run(argv: list[str], work: Path, kill_after: float | None = None) -> dict:
    t = time.perf_counter()
    proc = start(argv, work)
    try:
        out, err = proc.communicate(timeout=kill_after)
        return {"rc": proc.returncode, "seconds": time.perf_counter() - t, "killed": False, "stderr": err, "stdout": out}
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"rc": None, "seconds": time.perf_counter() - t, "killed": True, "stderr": "", "stdout": ""}


# ---- what a run left behind ---------------------------------------------------------------------

def outputs(work: Path) -> dict:
    """Every JSON/JSONL file the command wrote, parsed, with volatile fields and the folder's path removed."""
    found = {}
    for path in sorted((work / "out").rglob("*")) + sorted((work / "results").rglob("*")):
        if path.is_file() and path.suffix in (".json", ".jsonl") and not path.name.startswith("."):
            text = path.read_text(encoding="utf-8").replace(str(work), "<work>")
            value = json.loads(text) if path.suffix == ".json" else [json.loads(line) for line in text.splitlines() if line]
            found[str(path.relative_to(work))] = strip(value)
    return found


def strip(value):
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def differences(a: dict, b: dict, where: str = "") -> list[str]:
    if type(a) is not type(b):
        return [where or "/"]
    if isinstance(a, dict):
        out = [f"{where}/{k}" for k in sorted(set(a) ^ set(b))]
        return out + [d for k in sorted(set(a) & set(b)) for d in differences(a[k], b[k], f"{where}/{k}")]
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{where} (length {len(a)} vs {len(b)})"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [where]


def left_behind(work: Path) -> dict:
    """After a kill: unreadable output files, leftover temporary files, and the cache's integrity."""
    broken, temporary = [], []
    for path in list((work / "out").rglob("*")) + list((work / "results").rglob("*")):
        if not path.is_file():
            continue
        if path.name.endswith(".tmp"):
            temporary.append(str(path.relative_to(work)))
        elif path.suffix in (".json", ".jsonl"):
            try:
                text = path.read_text(encoding="utf-8")
                json.loads(text) if path.suffix == ".json" else [json.loads(x) for x in text.splitlines() if x]
            except (ValueError, UnicodeDecodeError):
                broken.append(str(path.relative_to(work)))
    return {"broken_files": broken, "temporary_files": temporary, "cache_ok": cache_state(work)["integrity"] == "ok"}


def cache_state(work: Path) -> dict:
    path = work / "cache.sqlite"
    if not path.exists():
        return {"integrity": "ok", "rows": 0, "rewrites": 0}
    db = sqlite3.connect(path)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        rows, rewrites = db.execute("SELECT COUNT(*), COALESCE(SUM(writes - 1), 0) FROM results").fetchone()
        writers = dict(db.execute("SELECT writer, COUNT(*) FROM results GROUP BY writer"))
    finally:
        db.close()
    return {"integrity": integrity, "rows": rows, "rewrites": rewrites, "writers": writers}


def checkpoints_left(work: Path) -> int:
    folder = work / "home" / "checkpoints"
    return sum(1 for _ in folder.iterdir()) if folder.is_dir() else 0


def resumed_training(work: Path) -> list[int]:
    """The checkpoint steps runs went on from (verify's output, and the live track's run files)."""
    steps = []
    for path in list((work / "out").rglob("*.json")) + list((work / "results").rglob("runs/*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for r in data.get("runs", [data]) if isinstance(data, dict) else []:
            step = ((r or {}).get("training") or {}).get("resumed_from_step") if isinstance(r, dict) else None
            if step is not None:
                steps.append(step)
    return steps


# ---- sections -----------------------------------------------------------------------------------

def kills(root: Path, n_kills: int, seed: int, only: list[str] | None, report: dict) -> dict:
    for name in only or list(commands(root)):
        print(f"kills: {name}", flush=True)
        ref_dir = fresh(root, name)
        ref = run(commands(ref_dir)[name], ref_dir)
        if ref["rc"] != 0:
            raise SystemExit(f"{name}: the reference run failed:\n{ref['stderr'][-2000:]}")
        reference, ref_cache = outputs(ref_dir), cache_state(ref_dir)
        again_dir = fresh(root, name)
        again = run(commands(again_dir)[name], again_dir)
        same_again = again["rc"] == 0 and outputs(again_dir) == reference
        rng = random.Random(f"{seed}:{name}")
        trials = []
        for k in range(n_kills):
            work = fresh(root, name)
            at = rng.uniform(0.25, 0.95) * ref["seconds"]
            killed = run(commands(work)[name], work, kill_after=at)
            after_kill = left_behind(work) | {"stored_before_rerun": cache_state(work)["rows"]}
            rerun = run(commands(work)[name], work)
            got = outputs(work) if rerun["rc"] == 0 else {}
            state = cache_state(work)
            trials.append({
                "kill_at_s": round(at, 1), "killed": killed["killed"], **after_kill,
                "rerun_rc": rerun["rc"], "rerun_error": rerun["stderr"].strip().splitlines()[-1:] if rerun["rc"] else [],
                "identical": got == reference, "differences": differences(reference, got)[:5],
                "recomputed": state["rewrites"] - ref_cache["rewrites"], "rows": state["rows"],
                "training_resumed_from": resumed_training(work), "checkpoints_left": checkpoints_left(work),
            })
            print(f"  kill {k + 1}/{n_kills} at {at:.1f}s: identical={trials[-1]['identical']} "
                  f"recomputed={trials[-1]['recomputed']} resumed_from={trials[-1]['training_resumed_from']}", flush=True)
            shutil.rmtree(work, ignore_errors=True)
        report[name] = {"reference_s": round(ref["seconds"], 1), "rows": ref_cache["rows"],
                        "reference_rewrites": ref_cache["rewrites"], "deterministic": same_again,
                        "determinism_differences": differences(reference, outputs(again_dir))[:5], "trials": trials}
        shutil.rmtree(ref_dir, ignore_errors=True)
        shutil.rmtree(again_dir, ignore_errors=True)
    return report


def concurrency(root: Path) -> dict:
    report = {}
    for name in ("select", "generate"):
        print(f"concurrency: {name}", flush=True)
        ref_dir = fresh(root, name)
        ref = run(commands(ref_dir)[name], ref_dir)
        reference = outputs(ref_dir)
        shared = fresh(root, name)
        works = [fresh(root, name) for _ in range(2)]
        argvs = [commands(w)[name] for w in works]
        for argv in argvs:  # one cache for both
            argv[argv.index("--cache") + 1] = str(shared / "cache.sqlite")
        t = time.perf_counter()
        procs = [start(argv, w, threads=1) for argv, w in zip(argvs, works)]  # the 2 cores split, not oversubscribed
        ended = [p.communicate() for p in procs]
        seconds = time.perf_counter() - t
        state = cache_state(shared)
        report[name] = {
            "processes": 2, "rcs": [p.returncode for p in procs], "seconds": round(seconds, 1),
            "alone_s": round(ref["seconds"], 1),
            "locked_errors": sum("database is locked" in err for _, err in ended),
            "identical_to_alone": [outputs(w) == reference for w in works], "integrity": state["integrity"],
            "rows": state["rows"], "rows_alone": cache_state(ref_dir)["rows"], "computed_twice": state["rewrites"],
            "rows_per_process": sorted(state["writers"].values()),
        }
        print(f"  {report[name]}", flush=True)
        for w in [ref_dir, shared, *works]:
            shutil.rmtree(w, ignore_errors=True)
    return report


def bad_input(root: Path) -> dict:
    """Hand-made bad inputs: each must exit 2 with one line naming the item, and write nothing."""
    import torch

    sys.path.insert(0, str(REPO / "tests"))
    from conftest import char_tokenizer, tiny_llama

    work = fresh(root, "bad")

    def candidates(name: str, edit) -> str:
        folder = work / name
        folder.mkdir()
        for f in ("answer_only", "worked_steps"):
            lines = [json.loads(x) for x in (EXAMPLE / "candidates" / f"{f}.jsonl").read_text().splitlines()]
            if f == "worked_steps":
                lines = edit(lines)
            (folder / f"{f}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
        return str(folder)

    def config(name: str, text: str) -> str:
        folder = work / name
        folder.mkdir()
        (folder / "run.toml").write_text(text)
        return str(folder / "run.toml")

    nan_model = work / "nan-model"
    model = tiny_llama()
    with torch.no_grad():
        model.model.norm.weight.fill_(float("nan"))
    model.save_pretrained(nan_model)
    char_tokenizer().save_pretrained(nan_model)
    bad_task = work / "bad-task"
    shutil.copytree(EXAMPLE, bad_task, ignore=shutil.ignore_patterns("candidates"))
    (bad_task / "task.json").write_text(json.dumps(json.loads((EXAMPLE / "task.json").read_text()) | {"verifier": "nope"}))
    numeric = work / "numeric-ids"  # the example with ids 0, 1, ...: the candidates give them as numbers, and "1" again
    shutil.copytree(EXAMPLE, numeric, ignore=shutil.ignore_patterns("candidates"))
    train = [json.loads(x) for x in (EXAMPLE / "train.jsonl").read_text().splitlines()]
    (numeric / "train.jsonl").write_text("".join(json.dumps(r | {"id": str(i)}) + "\n" for i, r in enumerate(train)))
    (numeric / "candidates").mkdir()
    for f in ("answer_only", "worked_steps"):
        lines = [json.loads(x) for x in (EXAMPLE / "candidates" / f"{f}.jsonl").read_text().splitlines()]
        lines = [r | {"id": i} for i, r in enumerate(lines)] + ([lines[1] | {"id": "1"}] if f == "worked_steps" else [])
        (numeric / "candidates" / f"{f}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    ok_run = f'task = "{EXAMPLE}"\nrecipes = ["{EXAMPLE / "strategies.toml"}"]\nstrategies = ["worked_steps", "answer_only"]\n'
    select = [*STYLEFIT, "select", str(EXAMPLE)]
    out = ["--out", str(work / "never" / "select.json")]
    cases = {
        "duplicate id": ([*select, candidates("dup", lambda r: r + [r[0]]), *out], "worked_steps"),
        "an id of another type (0 for 'train-0')": ([*select, candidates("types", lambda r: [r[0] | {"id": 0}] + r[1:]), *out], "worked_steps"),
        "ids 1 and \"1\" in one file": ([*STYLEFIT, "select", str(numeric), str(numeric / "candidates"), *out], "worked_steps.jsonl:201"),
        "missing id and unmatched question": ([*select, candidates("noid", lambda r: [{"response": r[0]["response"], "question": "?"}] + r[1:]), *out], "worked_steps"),
        "question differs between strategies": ([*select, candidates("q", lambda r: [r[0] | {"question": "another"}] + r[1:]), *out], "worked_steps"),
        "whitespace-only response": ([*select, candidates("blank", lambda r: [r[0] | {"response": "   "}] + r[1:]), *out], "worked_steps"),
        "1-MB response": ([*select, candidates("huge", lambda r: [r[0] | {"response": "x " * 500_000}] + r[1:]), "--n", "4", *out], "worked_steps"),
        "NaN from a model": ([*select, str(EXAMPLE / "candidates"), "--model", str(nan_model), "--scorer", "ppl", "--n", "4", *out], "strategy '"),
        "unknown scorer": ([*select, str(EXAMPLE / "candidates"), "--scorer", "nope", *out], "nope"),
        "unknown model": ([*select, str(EXAMPLE / "candidates"), "--model", "nope-7b", *out], "nope-7b"),
        "unknown verifier": ([*STYLEFIT, "select", str(bad_task), str(EXAMPLE / "candidates"), *out], "nope"),
        "unknown strategy": ([*STYLEFIT, "generate", str(EXAMPLE), "-s", "nope", "--out", str(work / "never" / "out")], "nope"),
        "config: unknown key": ([*STYLEFIT, "run", config("c1", ok_run + "colour = 1\n"), "--out", str(work / "never" / "out")], "colour"),
        "config: wrong type": ([*STYLEFIT, "run", config("c2", ok_run + 'n = "fifty"\n'), "--out", str(work / "never" / "out")], "run.toml"),
        "config: a path outside its folder that is not there": (
            [*STYLEFIT, "run", config("c3", ok_run.replace(str(EXAMPLE), "../../elsewhere/task")), "--out", str(work / "never" / "out")], "elsewhere"),
        "config: not TOML": ([*STYLEFIT, "run", config("c4", "task = [\n"), "--out", str(work / "never" / "out")], "run.toml"),
    }
    report = {}
    for label, (argv, names) in cases.items():
        result = run(argv, work)
        lines = [x for x in result["stderr"].strip().splitlines() if x.strip()]
        errors = [x for x in lines if x.startswith("error")]  # progress bars may precede it on stderr
        written = (work / "never").exists()
        report[label] = {"rc": result["rc"], "message": lines[-1][:300] if lines else "", "error_lines": len(errors),
                         "traceback": "Traceback" in result["stderr"], "names_item": bool(errors) and names in errors[-1],
                         "wrote_something": written}
        report[label]["ended_well"] = (result["rc"] == 2 and errors == lines[-1:] and not report[label]["traceback"]
                                       and report[label]["names_item"] and not written)
        shutil.rmtree(work / "never", ignore_errors=True)
        print(f"  {label}: {report[label]}", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return report


def corpus() -> dict:
    """The generated corpus: runs tests/test_bad_input_corpus.py and reads its tally."""
    tally = RESULTS / ".corpus_tally.json"
    env = os.environ | {"STYLEFIT_CORPUS_TALLY": str(tally), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(REPO / "tests" / "test_bad_input_corpus.py")],
                          cwd=REPO, env=env, capture_output=True, text=True)
    counts = json.loads(tally.read_text())
    tally.unlink()
    return {"pytest_rc": done.returncode, "summary": done.stdout.strip().splitlines()[-1], "cases": counts}


# ---- the report ---------------------------------------------------------------------------------

def markdown(figures: dict) -> str:
    lines = ["# Reliability", "",
             "Made by `benchmarks/reliability.py` (issue 14): real `stylefit` processes on SmolLM2-135M-Instruct, "
             f"this {os.cpu_count()}-core CPU, torch {figures['torch']}. Rerun it to refresh.", ""]
    if "kills" in figures:
        k = figures["kills"]
        lines += ["## Kill -9 anywhere", "",
                  f"Each command was killed with SIGKILL at {figures['n_kills']} seeded random points (uniform over 25–95% of an "
                  f"uninterrupted run's wall time, seed {figures['seed']}), then rerun to completion in the same folder and cache. "
                  "*Identical*: every JSON/JSONL output equals the uninterrupted run's, timings and counters aside. "
                  "*Recomputed*: cached items written a second time (the store counts each row's writes).", "",
                  "| command | run alone | kills survived / tried | identical after resume | items recomputed | "
                  "broken files after kill | cache intact | training resumed from step | same bits run after run |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, r in k.items():
            t = r["trials"]
            killed = [x for x in t if x["killed"]]
            survived = sum(x["rerun_rc"] == 0 and x["identical"] and x["recomputed"] == 0 for x in killed)
            resumed = sorted({s for x in t for s in x["training_resumed_from"]})
            lines.append(f"| `{name}` | {r['reference_s']:.0f} s | {survived} / {len(killed)} | "
                         f"{sum(x['identical'] for x in t)} / {len(t)} | {sum(x['recomputed'] for x in t)} | "
                         f"{sum(len(x['broken_files']) for x in t)} | {sum(x['cache_ok'] for x in t)} / {len(t)} | "
                         f"{', '.join(map(str, resumed)) or '—'} | {'yes' if r['deterministic'] else 'NO'} |")
        lines += ["", "Kill points (seconds after start) and what each left: "]
        for name, r in k.items():
            lines.append(f"- `{name}`: " + "; ".join(
                f"{x['kill_at_s']} s ({x['stored_before_rerun']} of {r['rows']} items stored"
                + (f", {len(x['temporary_files'])} temporary file(s)" if x["temporary_files"] else "") + ")" for x in r["trials"]))
        lines.append("")
    if "concurrency" in figures:
        lines += ["## Two processes, one cache", "",
                  "Two identical processes started together on one cache file (`--cache`), each writing its own output folder, "
                  "one thread each (the lone run has both cores).", "",
                  "| command | exit codes | 'database is locked' | outputs identical to a lone run | rows (lone run) | "
                  "items computed twice | rows written by each | integrity | wall time (lone run) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, r in figures["concurrency"].items():
            lines.append(f"| `{name}` | {', '.join(map(str, r['rcs']))} | {r['locked_errors']} | "
                         f"{sum(r['identical_to_alone'])} / {r['processes']} | {r['rows']} ({r['rows_alone']}) | {r['computed_twice']} | "
                         f"{' + '.join(map(str, r['rows_per_process']))} | {r['integrity']} | {r['seconds']:.0f} s ({r['alone_s']:.0f} s) |")
        lines += ["", "Work is shared by units (a block of 8 questions' scores, up to 64 generations, a fine-tuning run): a unit "
                  "one process has claimed, the other waits for and reads. Where the sample is one unit per step, as in this "
                  "`generate`, one process computes and the other waits: nothing is done twice, nothing is gained.", ""]
    if "corpus" in figures:
        c = figures["corpus"]
        total = sum(sum(v.values()) for v in c["cases"].values())
        lines += ["## Hostile input: the generated corpus", "",
                  "`tests/test_bad_input_corpus.py` (hypothesis, derandomized): a valid file corrupted as hand-made files go wrong "
                  "(cut short, non-UTF-8 bytes, a BOM, a row replaced by arbitrary JSON, duplicated, dropped or blank lines). "
                  "A case ends well when it loads with nothing dropped or fails with one line naming the file or item.", "",
                  "| input | cases | loaded, nothing dropped | one-line error naming it | ended otherwise |", "|---|---|---|---|---|"]
        for what, v in c["cases"].items():
            lines.append(f"| {what} | {sum(v.values())} | {v.get('loaded', 0)} | {v.get('error', 0)} | {v.get('other', 0)} |")
        good = sum(v.get("loaded", 0) + v.get("error", 0) for v in c["cases"].values())
        lines += ["", f"{good} of {total} generated cases ended well ({100 * good / total:.0f}%); pytest: {c['summary']}.", ""]
    if "bad_input" in figures:
        b = figures["bad_input"]
        lines += ["## Hostile input: hand-made cases, through the CLI", "",
                  "Each must exit 2 with one line naming the item, no traceback, and write nothing.", "",
                  "| input | exit | ended well | the line |", "|---|---|---|---|"]
        for label, r in b.items():
            message = re.sub(r"/\S*/stylefit-reliability-[^/]+/bad-[^/]+", "<work>", r["message"]).replace("|", "/")
            lines.append(f"| {label} | {r['rc']} | {'yes' if r['ended_well'] else 'NO'} | {message} |")
        lines += ["", f"{sum(r['ended_well'] for r in b.values())} of {len(b)} ended well.", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="kills,concurrency,bad_input,corpus", help="sections to run; 'none' rewrites the Markdown")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--commands", default=None, help="kills: only these commands (comma-separated); the others are kept")
    args = parser.parse_args()
    import torch

    from stylefit.models.registry import resolve_model

    resolve_model(MODEL)  # converted once, into the real home that every work folder links to
    path = RESULTS / "reliability.json"
    figures = json.loads(path.read_text()) if path.exists() else {}
    figures |= {"torch": torch.__version__, "n_kills": args.kills, "seed": args.seed}
    with tempfile.TemporaryDirectory(prefix="stylefit-reliability-") as tmp:
        root = Path(tmp)
        for section in args.only.split(","):
            if section == "none":
                pass
            elif section == "kills":
                only = args.commands.split(",") if args.commands else None
                figures["kills"] = kills(root, args.kills, args.seed, only, figures.get("kills", {}) if only else {})
            elif section == "concurrency":
                figures["concurrency"] = concurrency(root)
            elif section == "bad_input":
                figures["bad_input"] = bad_input(root)
            elif section == "corpus":
                figures["corpus"] = corpus()
            else:
                raise SystemExit(f"unknown section {section}")
            write_atomic(path, json.dumps(figures, indent=1) + "\n")  # each section kept as it finishes
            write_atomic(RESULTS / "reliability.md", markdown(figures))
    print(f"wrote {RESULTS / 'reliability.md'}")


if __name__ == "__main__":
    main()
