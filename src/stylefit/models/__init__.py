"""Language models: one protocol, a transformers backend, and an offline registry of names."""

from stylefit.models.base import ContinuationRequest, ContinuationScore, Generation, GenerationSpec, LanguageModel
from stylefit.models.registry import ResolvedModel, model_names, resolve_model


def load_model(name: str, *, device: str = "cpu", dtype: str = "float32") -> "LanguageModel":
    """Resolve a registered name, local folder or hub id and load it with transformers."""
    from stylefit.models.transformers_lm import TransformersLM

    return TransformersLM(resolve_model(name), device=device, dtype=dtype)


__all__ = [
    "ContinuationRequest",
    "ContinuationScore",
    "Generation",
    "GenerationSpec",
    "LanguageModel",
    "ResolvedModel",
    "load_model",
    "model_names",
    "resolve_model",
]
