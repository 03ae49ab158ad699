"""Regenerate benchmarks/results/paper_track.{md,json}: the same command as `stylefit bench paper`.

Usage: python benchmarks/paper_track.py [--data ../shared/paper-bench] [--out benchmarks/results]
"""

import sys

from stylefit.bench.cli import bench_app
from stylefit.core.errors import StylefitError

if __name__ == "__main__":
    try:
        bench_app(["paper", *sys.argv[1:]], prog_name="benchmarks/paper_track.py", standalone_mode=False)
    except StylefitError as e:
        sys.exit(f"error: {e}")
