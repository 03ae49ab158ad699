"""Language models: one protocol, the backends, an offline registry of names, prompts and chat templates, and the target's own cached answers."""

from stylefit.core.errors import StylefitError
from stylefit.models.base import ContinuationRequest, ContinuationScore, Generation, GenerationSpec, LanguageModel
from stylefit.models.registry import ResolvedModel, model_names, resolve_model


SERVER_PREFIX = "openai:"  # openai:<model>@<base url>: a model behind an OpenAI-compatible server
SERVER_OPTIONS = ("mode", "tokenizer", "prompt_logprobs", "revision", "concurrency", "reproducible", "key_env", "allow_http_key")
SERVER_FLAGS = ("reproducible", "allow_http_key")  # options that are true or false


def load_model(name: str, *, device: str = "auto", dtype: str = "auto", token_budget: int | None = None) -> "LanguageModel":
    """Resolve a registered name, local folder or hub id and load it with transformers; or, for
    ``openai:<model>@<base url>[?option=value&...]``, talk to that OpenAI-compatible server. Options:
    ``mode`` (chat, the default, or completions), ``tokenizer`` (the served model's Hugging Face
    tokenizer: its chat template is applied here in completions mode, as scoring needs),
    ``prompt_logprobs`` (echo: llama.cpp; vllm), ``revision``, ``concurrency``, ``reproducible`` (true
    or false: your word that the server's greedy text does not depend on what else it serves; false by
    default), ``key_env`` and ``allow_http_key`` (true or false). Scoring a served target:
    ``openai:<model>@<url>?mode=completions&tokenizer=<name>``.

    Keys are bound to hosts: $OPENAI_API_KEY is sent to https://api.openai.com only; any other server
    is sent a key only from the variable its spec names (``key_env=MY_VLLM_KEY``), and a key over plain
    http to a host other than this machine is an error unless ``allow_http_key=true``.

    ``device``: auto (CUDA when available) | cpu | cuda | cuda:N; ``dtype``: auto (bf16 on a GPU
    that supports it, else fp32) | float32 | bfloat16 | float16; ``token_budget``: the most tokens
    one forward pass runs (default 2048)."""
    if name.startswith(SERVER_PREFIX):
        from stylefit.models.openai_lm import OpenAICompatibleLM

        local = [f"{option}={value}" for option, value, default in (("device", device, "auto"), ("dtype", dtype, "auto"),
                                                                     ("token_budget", token_budget, None)) if value != default]
        if local:  # the server decides these: an option that does nothing is an error
            raise StylefitError(f"model '{name}': {', '.join(local)} does nothing for a served model (the server sets its own "
                                "device, precision and batching)")
        model, sep, url = name[len(SERVER_PREFIX):].rpartition("@")
        url, _, query = url.partition("?")
        if not sep or not model or not url.startswith(("http://", "https://")):
            raise StylefitError(f"model '{name}': a server model is written openai:<model>@<http(s) base url>[?option=value&...]")
        options = dict(item.partition("=")[::2] for item in query.split("&") if item)
        if unknown := sorted(set(options) - set(SERVER_OPTIONS)):
            raise StylefitError(f"model '{name}': unknown server option '{unknown[0]}' (known: {', '.join(SERVER_OPTIONS)})")
        if "concurrency" in options:
            options["concurrency"] = int(options["concurrency"]) if options["concurrency"].isdigit() else 0
        for flag in SERVER_FLAGS:
            if flag in options:
                if options[flag] not in ("true", "false"):
                    raise StylefitError(f"model '{name}': {flag} must be true or false, got '{options[flag]}'")
                options[flag] = options[flag] == "true"
        return OpenAICompatibleLM(url, model, **options)
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
