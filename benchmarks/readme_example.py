"""The README's example table, rendered from the committed artifact of `benchmarks/select_example.py`.

    python benchmarks/readme_example.py          # rewrite the README block from the artifact
    python benchmarks/readme_example.py --check  # exit 1 if the README block is stale

The table in the README is never typed by hand: it is what `stylefit select` prints for the
selection stored in benchmarks/results/select_example_result.json.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
ARTIFACT = REPO / "benchmarks" / "results" / "select_example_result.json"
START, END = "<!-- example-table:start (made by benchmarks/readme_example.py) -->", "<!-- example-table:end -->"


def render(artifact: Path = ARTIFACT) -> str:
    """The block between the markers: the ranked table and the verdict, as the CLI prints them."""
    from rich.console import Console

    from stylefit.api import SelectionResult
    from stylefit.report.terminal import selection_table, verdict_lines

    result = SelectionResult.from_dict(json.loads(artifact.read_text(encoding="utf-8")))
    console = Console(file=io.StringIO(), width=130, record=True, color_system=None)
    console.print(selection_table(result))
    for line in verdict_lines(result):
        console.print(line, highlight=False, soft_wrap=True)
    table = "\n".join(line.rstrip() for line in console.export_text().splitlines())
    return f"{START}\n```\n{table}\n```\n{END}"


def current_block(readme: str) -> str:
    start, end = readme.index(START), readme.index(END) + len(END)
    return readme[start:end]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    readme = README.read_text(encoding="utf-8")
    block = render()
    if args.check:
        sys.exit(0 if current_block(readme) == block else 1)
    from stylefit.data.jsonl import write_atomic

    write_atomic(README, readme.replace(current_block(readme), block))
    print(block)


if __name__ == "__main__":
    main()
