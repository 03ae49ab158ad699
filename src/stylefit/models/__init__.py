"""Language models: one protocol, a transformers backend, and an offline registry of names."""

from stylefit.errors import StylefitError
from stylefit.models.base import ContinuationRequest, ContinuationScore, Generation, GenerationSpec, LanguageModel
from stylefit.models.registry import ResolvedModel, model_names, resolve_model


SERVER_PREFIX = "openai:"  # openai:<model>@<base url>: a model behind an OpenAI-compatible server


def load_model(name: str, *, device: str = "auto", dtype: str = "auto", token_budget: int | None = None) -> "LanguageModel":
    """Resolve a registered name, local folder or hub id and load it with transformers; or, for
    ``openai:<model>@<base url>``, talk to that OpenAI-compatible server (chat mode, key from
    $OPENAI_API_KEY when set).

    ``device``: auto (CUDA when available) | cpu | cuda | cuda:N; ``dtype``: auto (bf16 on a GPU
    that supports it, else fp32) | float32 | bfloat16 | float16; ``token_budget``: the most tokens
    one forward pass runs (default 2048)."""
    if name.startswith(SERVER_PREFIX):
        from stylefit.models.openai_lm import OpenAICompatibleLM

        model, sep, url = name[len(SERVER_PREFIX):].rpartition("@")
        if not sep or not model or not url.startswith(("http://", "https://")):
            raise StylefitError(f"model '{name}': a server model is written openai:<model>@<http(s) base url>")
        return OpenAICompatibleLM(url, model)
    from stylefit.models.device import resolve_device, resolve_dtype
    from stylefit.models.transformers_lm import TOKEN_BUDGET, TransformersLM

    device = resolve_device(device)  # before resolving the model: a bad device fails in a second, not after a conversion
    dtype = resolve_dtype(dtype, device)
    return TransformersLM(resolve_model(name), device=device, dtype=dtype, token_budget=token_budget or TOKEN_BUDGET)


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
