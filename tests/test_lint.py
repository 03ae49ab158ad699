"""ruff's pyflakes rules (configured in pyproject.toml) over every Python file of the repository: an
unused import or an undefined name fails here, not in a user's run."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ruff_finds_no_undefined_or_unused_names():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))  # the pinned one, beside this Python
    assert ruff, "ruff is not installed beside this Python: it is a dev dependency (pip install -e '.[dev]')"
    done = subprocess.run([ruff, "check", "--output-format", "concise", "."],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
