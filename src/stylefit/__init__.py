"""stylefit: predict which response-generation strategy gives the best fine-tuned target model, from a small sample (layers: docs/architecture.md)."""

from stylefit.api import SelectionResult, generate, select, select_adaptive
from stylefit.core.errors import StylefitError

__version__ = "0.1.0"
__all__ = ["SelectionResult", "StylefitError", "generate", "run", "select", "select_adaptive", "verify", "__version__"]


def run(*args, **kwargs):
    """The whole loop from a TOML config: ``stylefit.loop.run``."""
    from stylefit.loop import run as run_loop

    return run_loop(*args, **kwargs)


def verify(*args, **kwargs):
    """The ground truth: ``stylefit.training.verify`` (imported on first use: TRL is slow to import)."""
    from stylefit.training import verify as run_verify

    return run_verify(*args, **kwargs)
