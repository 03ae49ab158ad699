"""The training loss with the LM head applied to the response tokens only.

TRL's SFT loss projects hidden states through the LM head in chunks. On a GPU with Triton it projects only the
positions that carry a label; elsewhere it projects every position (one shape for compilers) and
masks afterwards, so on a CPU every prompt token pays for the head too. With a large vocabulary that
is most of a step: Gemma-3-270M's head (262k x 640) costs about 1.8x its 18 layers, and a prompt is
typically 70-90% of a training example here. This trainer projects the labelled positions only, with
TRL's own kernel: the same loss, its sums in another order (benchmarks/response_head.py).
"""

from __future__ import annotations

from trl import SFTTrainer
from trl.kernels import ChunkedLogProbFunction

from stylefit.core.errors import StylefitError

VOCAB_CHUNK = 32768  # TRL's tile width over the vocabulary
_SCALINGS = ("logit_scale", "output_multiplier", "lm_head_multiplier", "logits_scaling")
PLAIN_NLL_ONLY = ("head_on_response_only computes the plain NLL loss only "
                  "(no label smoothing, custom loss, other loss type, auxiliary loss or returned outputs)")


def _causal(model):
    """The causal LM under a PEFT wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


class ResponseHeadSFTTrainer(SFTTrainer):
    """An SFTTrainer whose loss (mean negative log-likelihood over the response tokens, normalised as
    TRL's) runs the LM head on those tokens only. It logs the loss alone, not TRL's entropy and token
    accuracy, which would need the head on every position."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)  # what the loss below cannot do is known here, before any step
        if self.compute_loss_func is not None or self.label_smoother is not None or self.args.loss_type != "nll" \
                or self.aux_loss_enabled:
            raise StylefitError(PLAIN_NLL_ONLY)
        config = _causal(self.model).config.get_text_config()
        if scaled := [name for name in _SCALINGS if getattr(config, name, None) is not None]:
            raise StylefitError(f"head_on_response_only: the model scales its logits ({', '.join(scaled)}); train without it")

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if return_outputs:
            raise StylefitError(PLAIN_NLL_ONLY)
        causal = _causal(model)
        config = causal.config.get_text_config()
        labels = inputs["labels"]
        backbone = {k: v for k, v in inputs.items() if k != "labels"}
        hidden = causal.base_model(**backbone, use_cache=False).last_hidden_state[:, :-1]
        targets = labels[:, 1:]
        mask = targets != -100
        head = causal.get_output_embeddings()
        log_probs = ChunkedLogProbFunction.apply(hidden[mask], head.weight, head.bias, targets[mask], 1.0, VOCAB_CHUNK,
                                                 getattr(config, "final_logit_softcapping", None), 1.0, ("log_probs",))[0]
        # a batch without response tokens (not possible with completion-only rows) still gives a finite zero
        loss = -log_probs.sum() / (mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:  # as TRL: the count spans ranks
            loss = loss * self.accelerator.num_processes
        return loss
