"""The fine-tuning recipe: every hyperparameter of one training run, validated, recorded in full.

Defaults follow the paper (LoRA rank 8 on the q/v projections) and this CPU (DESIGN.md §5: TRL
defaults to bf16 and gradient checkpointing, ~18x slower on CPUs without native bf16, so both
are off unless asked for; ``bf16=None`` follows the run's dtype: bf16 mixed precision when the
run computes in bfloat16, which ``--dtype auto`` picks on a GPU that supports it).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

# The learning rate when none is given: adapters take a larger step than full weights.
DEFAULT_LR = {"lora": 2e-4, "full": 2e-5}


class Recipe(BaseModel):
    """How the target is fine-tuned on one strategy's data (the seed is given per run)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["lora", "full"] = "lora"
    lora_rank: int = Field(8, ge=1)
    lora_alpha: int = Field(16, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    learning_rate: float | None = Field(None, gt=0, description="None = 2e-4 for LoRA, 2e-5 for full fine-tuning")
    lr_scheduler: str = "linear"
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    epochs: float = Field(2.0, gt=0)
    batch_size: int = Field(8, ge=1)
    grad_accum: int = Field(1, ge=1)
    max_length: int = Field(1024, ge=8, description="longest prompt + response in tokens; longer is an error, never truncated")
    skip_overlong: bool = Field(False, description="drop (and count) over-long examples instead of failing")
    select_checkpoint: bool = Field(False, description="keep the epoch with the best validation accuracy (the paper's choice)")
    validation_questions: int = Field(50, ge=1, description="held-out training questions used when select_checkpoint")
    checkpoint_metric: Literal["strict", "flexible"] = Field("strict", description="the accuracy select_checkpoint maximises")
    bf16: bool | None = None
    gradient_checkpointing: bool = False
    # A batch's examples laid end to end in one row, each attended on its own (packed_attention.py): the
    # same batches and loss without computing padding, faster as lengths vary within a batch
    # (benchmarks/results/verify_example_compare.md); the sums run in another order, so near ties may turn.
    padding_free: bool = False
    # The LM head on the response tokens only (response_head.py): TRL's loss projects every position on
    # a CPU. The same loss, faster as the vocabulary is large and prompts long; the sums run in another order.
    head_on_response_only: bool = False

    @model_validator(mode="after")
    def _resolve_learning_rate(self) -> "Recipe":
        if self.learning_rate is None:  # record the value actually used, not "default"
            object.__setattr__(self, "learning_rate", DEFAULT_LR[self.method])
        return self

    @model_serializer(mode="wrap")
    def _recorded(self, handler) -> dict[str, Any]:
        data = handler(self)
        for added_later in ("padding_free", "head_on_response_only"):  # recipes without them keep the keys of their runs
            if not data.get(added_later):
                data.pop(added_later, None)
        return data

    def sft_kwargs(self, seed: int, on_cuda: bool, dtype: str) -> dict[str, Any]:
        """The SFTConfig arguments this recipe fixes (output and logging settings are the trainer's).
        ``dtype`` is the run's compute type: bfloat16 or float16 train in mixed precision (fp32 weights)."""
        return dict(
            learning_rate=self.learning_rate,
            lr_scheduler_type=self.lr_scheduler,
            warmup_steps=self.warmup_ratio,  # transformers 5: a value below 1 is a ratio of the steps
            weight_decay=self.weight_decay,
            max_grad_norm=self.max_grad_norm,
            num_train_epochs=self.epochs,
            per_device_train_batch_size=self.batch_size,
            gradient_accumulation_steps=self.grad_accum,
            max_length=None,  # lengths are checked beforehand: TRL would truncate silently
            completion_only_loss=True,
            bf16=dtype == "bfloat16" if self.bf16 is None else self.bf16,
            fp16=dtype == "float16",
            activation_checkpointing=self.gradient_checkpointing,  # transformers 5 name; TRL defaults it to on
            use_cpu=not on_cuda,
            padding_free=self.padding_free,
            seed=seed,
            data_seed=seed,
        )


class EvalSettings(BaseModel):
    """How answers are generated for evaluation: greedy, up to ``max_new_tokens``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_new_tokens: int = Field(256, ge=1)
    batch_size: int = Field(16, ge=1, description="prompts per generate call (speed only, not part of a run's key)")
    token_budget: int = Field(2048, ge=1, description="most tokens in one forward pass (speed and memory only, not part of a run's key)")
    gold_loss: bool = Field(False, description="also record each question's mean NLL of 'Final Answer: <gold>' right after the prompt")
