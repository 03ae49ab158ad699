"""Attention for padding-free batches that costs what the examples cost.

A padding-free batch lays its examples end to end in one row, position ids restarting at each. With
SDPA, transformers then builds a block-diagonal mask over the whole row and attends over all of it: a
row of n examples of length L costs (nL)² instead of n·L², and the masked path of SDPA on a CPU is
its slow, materialized one. Here each example is attended on its own with SDPA's causal kernel, from
the sequence boundaries TRL's collator passes along (``cu_seq_lens_q``): the same function, n·L² work.
Anything else (generation, padded batches) is SDPA unchanged.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

NAME = "stylefit_packed_sdpa"


def packed_sdpa_forward(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                        attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                        is_causal: bool | None = None, **kwargs) -> tuple[torch.Tensor, None]:
    bounds = kwargs.get("cu_seq_lens_q")
    if bounds is None or query.shape[0] != 1 or query.shape[2] != key.shape[2]:  # not one packed training row
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    groups = getattr(module, "num_key_value_groups", 1)
    key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    edges = bounds.tolist()
    parts = [torch.nn.functional.scaled_dot_product_attention(query[:, :, a:b], key[:, :, a:b], value[:, :, a:b],
                                                              dropout_p=dropout, scale=scaling, is_causal=True)
             for a, b in zip(edges, edges[1:]) if b > a]
    return torch.cat(parts, dim=2).transpose(1, 2).contiguous(), None


AttentionInterface.register(NAME, packed_sdpa_forward)
ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)  # masks as SDPA's, for whatever falls back to it
