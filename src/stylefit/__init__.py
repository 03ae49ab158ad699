"""stylefit: predict which response-generation strategy gives the best fine-tuned target model,
from a small sample, by how familiar each strategy's responses are to the target."""

from stylefit.api import SelectionResult, select
from stylefit.errors import StylefitError

__version__ = "0.1.0"
__all__ = ["SelectionResult", "StylefitError", "generate", "run", "select", "verify", "__version__"]


def generate(*args, **kwargs):
    """Write training targets with named strategies: ``stylefit.strategies.generate``."""
    from stylefit.strategies import generate as run_generate

    return run_generate(*args, **kwargs)


def run(*args, **kwargs):
    """The whole loop from a TOML config: ``stylefit.loop.run``."""
    from stylefit.loop import run as run_loop

    return run_loop(*args, **kwargs)


def verify(*args, **kwargs):
    """The ground truth: ``stylefit.training.verify`` (imported on first use: TRL is slow to import)."""
    from stylefit.training import verify as run_verify

    return run_verify(*args, **kwargs)
