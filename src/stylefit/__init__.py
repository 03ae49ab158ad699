"""stylefit: predict which response-generation strategy gives the best fine-tuned target model,
from a small sample, by how familiar each strategy's responses are to the target."""

from stylefit.api import SelectionResult, select
from stylefit.errors import StylefitError

__version__ = "0.1.0"
__all__ = ["SelectionResult", "StylefitError", "select", "verify", "__version__"]


def verify(*args, **kwargs):
    """The ground truth: ``stylefit.training.verify`` (imported on first use: TRL is slow to import)."""
    from stylefit.training import verify as run_verify

    return run_verify(*args, **kwargs)
