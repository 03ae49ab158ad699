"""The versions behind a number: Python and the libraries that compute stylefit's results."""

from __future__ import annotations

import importlib.metadata as md
import platform

LIBRARIES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "stylefit")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            versions[lib] = md.version(lib)
        except md.PackageNotFoundError:
            versions[lib] = "absent"
    return versions
