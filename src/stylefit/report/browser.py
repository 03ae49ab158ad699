"""Open a report in a real headless browser (Debian's chromium): its DOM after load, its console
output and a screenshot. Used by the report's browser test and by docs/screenshots.py."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from stylefit.core.errors import StylefitError

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]


@dataclass
class Rendered:
    dom: str  # the document after load (anything a script changed would show here)
    console: list[str]  # lines the page wrote to its console (errors included)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise StylefitError("no chromium found: apt-get install chromium (the report's browser test needs a real browser)")


def render(html: Path, screenshot: Path | None = None, width: int = 1200, height: int = 3000, timeout: float = 120) -> Rendered:
    """Load ``html`` from disk; write a ``width`` x ``height`` screenshot when asked."""
    url = Path(html).resolve().as_uri()
    dump = subprocess.run([chromium(), *FLAGS, "--dump-dom", url], capture_output=True, text=True, timeout=timeout)
    if dump.returncode:
        raise StylefitError(f"chromium could not load {html}: {dump.stderr[-500:]}")
    if screenshot is not None:
        shot = subprocess.run([chromium(), *FLAGS, f"--window-size={width},{height}", f"--screenshot={screenshot}", url],
                              capture_output=True, text=True, timeout=timeout)
        if shot.returncode or not Path(screenshot).is_file():
            raise StylefitError(f"chromium could not screenshot {html}: {shot.stderr[-500:]}")
    return Rendered(dump.stdout, [line for line in dump.stderr.splitlines() if ":CONSOLE" in line])
