"""How far a regenerated candidate set is from the committed one, strategy by strategy.

    python benchmarks/live/compare_candidates.py CASE_FOLDER [--regenerated NAME]

Issue 22 regenerated chain_sum-qwen's sets under the length rules (on the CPU; the committed sets
were made on a lent GPU before the rules). This counts, per strategy, the responses that differ,
those the rules flag as truncated (never trained on), and those the old rule completed with the
gold answer after a cut. Writes <case>/candidates_regenerated.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def rows(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def compare(folder: Path, regenerated: str) -> str:
    manifest = json.loads((folder / regenerated / "manifest.json").read_text(encoding="utf-8"))
    lines = [f"# {folder.name}: committed candidate sets against sets regenerated under the length rules", "",
             f"Produced by `python benchmarks/live/compare_candidates.py {folder.as_posix()}`: `candidates/` (committed, "
             f"judged) against `{regenerated}/`. *Changed*: responses whose text differs. *Cut*: responses that hit the "
             "generation budget in the regenerated set (retried with twice the budget, then flagged truncated). "
             "*Second tries differ*: changed responses that were a second, sampled try in either set.", "",
             "| strategy | responses | changed | cut, flagged truncated now | changed among second tries |", "|---|---|---|---|---|"]
    total = changed_all = 0
    for entry in manifest["strategies"]:
        name = entry["strategy"]
        old, new = rows(folder / "candidates" / f"{name}.jsonl"), rows(folder / regenerated / f"{name}.jsonl")
        changed = [i for i in old if old[i]["response"] != new[i]["response"]]
        retried = [i for i in changed if old[i].get("tries", 1) > 1 or new[i].get("tries", 1) > 1]
        flagged = sum(bool(r.get("truncated")) for r in new.values())
        lines.append(f"| {name} | {len(old)} | {len(changed)} | {flagged} | {len(retried)} |")
        total, changed_all = total + len(old), changed_all + len(changed)
    lines += ["", f"{changed_all} of {total} responses differ."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--regenerated", default="candidates_regenerated")
    args = parser.parse_args()
    out = args.folder / f"{args.regenerated}.md"
    out.write_text(compare(args.folder, args.regenerated), encoding="utf-8")
    print(out.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
