"""Does a run made on the GPU give what the same run gives on this CPU?

The live track's runs are float32 wherever they run, so a run's key (and its place in the track) does
not depend on the device. This reruns, here on the CPU, runs that the track made on a GPU, into a
throwaway store, and compares: the key, the accuracy, and each test answer.

    python benchmarks/live/device_agreement.py [CASE:STRATEGY:SEED ...]

Writes benchmarks/results/live_device_agreement.{md,json}.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from stylefit.bench.live.config import load_live_config
from stylefit.data.jsonl import write_atomic
from stylefit.data.task import load_task
from stylefit.training import RunResult, verify

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "live" / "live.toml"
DEFAULT = ["chain_sum-smollm2:answer_only:0"]


def compare(config, case_name: str, strategy: str, seed: int) -> dict:
    case = next(c for c in config.cases if c.name == case_name)
    folder = config.path(config.results) / case.name
    task = load_task(config.path(case.task))
    files = [folder / "candidates" / f"{s}.jsonl" for s in case.strategies]
    kwargs = dict(targets=case.target, strategies=[strategy], seeds=[seed], recipe=config.recipe, eval_settings=config.eval,
                  n_train=case.n_train, n_test=case.n_test, base=False, dtype=config.dtype)
    with tempfile.TemporaryDirectory() as tmp:
        here = verify(task, files, store=Path(tmp) / "store.sqlite", device="cpu", **kwargs).runs[0]
    file = folder / "runs" / f"{here.key}.json"  # the same key, or the comparison is void
    if not file.is_file():
        raise SystemExit(f"{case_name}:{strategy}:{seed}: no committed run has the key {here.key}")
    committed = RunResult.model_validate(json.loads(file.read_text(encoding="utf-8")))
    if committed.device == "cpu":
        raise SystemExit(f"{case_name}:{strategy}:{seed} was made on the CPU: nothing to compare")
    same = sum(a.output == b.output for a, b in zip(committed.evaluation.items, here.evaluation.items))
    return {"run": f"{case_name}:{strategy}:seed{seed}", "key": here.key,
            "devices": [committed.device, here.device], "accuracy": [committed.evaluation.accuracy("strict"), here.evaluation.accuracy("strict")],
            "identical_answers": same, "n_test": len(here.evaluation.items),
            "final_loss": [committed.training.loss_history[-1][1], here.training.loss_history[-1][1]],
            "seconds": [round(committed.timings["total_s"], 1), round(here.timings["total_s"], 1)]}


def main(args: list[str]) -> None:
    config = load_live_config(CONFIG)
    rows = []
    for item in args or DEFAULT:
        case, strategy, seed = item.split(":")
        rows.append(compare(config, case, strategy, int(seed)))
        print(rows[-1], flush=True)
    out = ROOT / "results" / "live_device_agreement"
    write_atomic(out.with_suffix(".json"), json.dumps(rows, indent=1) + "\n")
    lines = ["# Live track: the same run on the GPU and on this CPU", "",
             "Produced by `python benchmarks/live/device_agreement.py`: runs the track made on a lent GPU (float32), made again "
             "here on the 2-core CPU into a throwaway store. Strict test accuracy in %.", "",
             "| run | key | accuracy GPU | accuracy CPU | identical test answers | final training loss GPU / CPU | seconds GPU / CPU |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['run']} | {r['key'][:12]} | {100 * r['accuracy'][0]:.1f} | {100 * r['accuracy'][1]:.1f} | "
                     f"{r['identical_answers']}/{r['n_test']} | {r['final_loss'][0]:.4f} / {r['final_loss'][1]:.4f} | "
                     f"{r['seconds'][0]} / {r['seconds'][1]} |")
    lines += ["", "GPU seconds were measured with many runs sharing one GPU and its 16 CPU cores at once."]
    write_atomic(out.with_suffix(".md"), "\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
