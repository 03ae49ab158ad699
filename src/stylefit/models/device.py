"""Where a model runs and in which floating-point type: ``auto`` picks CUDA when there is one, and
bf16 on a GPU that supports it (fp32 elsewhere). Both are explicit errors when unavailable."""

from __future__ import annotations

import re

from stylefit.core.errors import StylefitError

DTYPES = ("auto", "float32", "bfloat16", "float16")


def resolve_device(device: str = "auto") -> str:
    """'auto' -> 'cuda' when a CUDA device is visible, else 'cpu'; 'cpu', 'cuda' and 'cuda:N' as given."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if re.fullmatch(r"cuda(:\d+)?", device):
        if not torch.cuda.is_available():
            raise StylefitError(f"device '{device}': no CUDA device is visible to torch {torch.__version__} here")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise StylefitError(f"device '{device}': only {torch.cuda.device_count()} CUDA device(s) here")
        return device
    raise StylefitError(f"unknown device '{device}' (known: auto, cpu, cuda, cuda:N)")


def resolve_dtype(dtype: str, device: str) -> str:
    """'auto' -> 'bfloat16' on a CUDA device that supports it, else 'float32'; explicit types as given."""
    import torch

    if dtype not in DTYPES:
        raise StylefitError(f"unknown dtype '{dtype}' (known: {', '.join(DTYPES)})")
    on_cuda = device.startswith("cuda")
    if dtype == "auto":
        return "bfloat16" if on_cuda and torch.cuda.is_bf16_supported() else "float32"
    if dtype == "bfloat16" and on_cuda and not torch.cuda.is_bf16_supported():
        raise StylefitError(f"dtype 'bfloat16': the GPU on {device} does not support it (use float16 or float32)")
    return dtype
