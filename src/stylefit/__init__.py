"""stylefit: predict which response-generation strategy gives the best fine-tuned target model,
from a small sample, by how familiar each strategy's responses are to the target."""

from stylefit.api import SelectionResult, select
from stylefit.errors import StylefitError

__version__ = "0.1.0"
__all__ = ["SelectionResult", "StylefitError", "select", "__version__"]
