"""Supervised fine-tuning with TRL's SFTTrainer: LoRA through PEFT, or all weights.

The data is a prompt-completion dataset, so TRL computes the loss on the response tokens only and
renders both through the target's own chat template (the plain "prompt\\n" + response for a model
without one, the same text evaluation generates from). Nothing is truncated: TRL's ``max_length``
is off and every tokenized example is checked against the recipe's limit before training.

With a checkpoint folder, a run saves a resumable checkpoint (weights, optimizer, scheduler, RNG
states, the best epoch so far) every K optimizer steps and at every epoch end, and a run killed
mid-training resumes from the newest complete one: the same steps, the same bits.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable

import torch
from pydantic import BaseModel
from transformers import PrinterCallback, TrainerCallback

from stylefit.core.errors import StylefitError
from stylefit.training.recipe import Recipe


class TrainExample(BaseModel):
    """One training pair: the user prompt (with the task's instruction) and the strategy's response."""

    id: str
    prompt: str
    response: str


class TrainingOutcome(BaseModel):
    examples: int  # trained on
    skipped: list[str]  # "id (N tokens)" of over-long examples dropped at the user's request
    steps: int
    epochs: float
    loss_history: list[tuple[int, float]]  # (optimizer step, training loss of that step)
    train_tokens: int  # non-padding tokens through forward + backward, prompts included, all epochs
    loss_tokens: int  # response tokens that carry the loss, all epochs
    train_s: float  # the optimisation loop, validation passes excluded
    validation_s: float
    checkpoints: list[dict[str, float]]  # per epoch end: epoch, step, validation_accuracy (select_checkpoint)
    selected_epoch: float | None
    sft_config: dict[str, Any]  # every argument the trainer ran with
    resumed_from_step: int | None = None  # the checkpoint a killed run went on from (None: trained in one go)


def training_rows(examples: list[TrainExample], chat: bool) -> list[dict[str, Any]]:
    """TRL prompt-completion rows: conversational (TRL applies the chat template) or plain text."""
    if chat:
        return [{"id": e.id, "prompt": [{"role": "user", "content": e.prompt}],
                 "completion": [{"role": "assistant", "content": e.response}]} for e in examples]
    return [{"id": e.id, "prompt": e.prompt + "\n", "completion": e.response} for e in examples]  # TRL appends EOS


def training_lengths(tokenizer, examples: list[TrainExample]) -> list[int]:
    """Each example's length in tokens as the trainer tokenizes it (prompt, response and end of turn),
    without building a trainer: TRL renders the whole conversation through the chat template, or
    tokenizes the plain prompt-completion text with the EOS it appends."""
    rows = training_rows(examples, chat=bool(tokenizer.chat_template))
    if tokenizer.chat_template:
        return [len(tokenizer.apply_chat_template(r["prompt"] + r["completion"], tokenize=True, return_dict=True)["input_ids"])
                for r in rows]
    eos = tokenizer.eos_token
    return [len(tokenizer(r["prompt"] + r["completion"] + ("" if r["completion"].endswith(eos) else eos)).input_ids)
            for r in rows]


def max_length_limit(recipe: Recipe, config) -> int:
    """The recipe's max_length, or the model's context where that is shorter."""
    context = getattr(config, "max_position_embeddings", None)
    if not context:  # guessing a context length would let over-long examples train on garbage positions
        raise StylefitError("the model's config gives no max_position_embeddings (context length)")
    return min(recipe.max_length, context)


def check_target_modules(model: torch.nn.Module, recipe: Recipe) -> None:
    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    missing = [m for m in recipe.target_modules if m not in names]
    if missing:
        raise StylefitError(f"LoRA target module(s) {', '.join(missing)} not in the model (its linear layers: {', '.join(sorted(names))})")


class _StepProgress(TrainerCallback):
    def __init__(self, progress: Callable[[int, int], None]):
        self.progress = progress  # (total steps, advance)

    def on_train_begin(self, args, state, control, **kwargs):
        self.progress(state.max_steps, 0)

    def on_step_end(self, args, state, control, **kwargs):
        self.progress(state.max_steps, 1)


class _BestEpoch(TrainerCallback):
    """At every epoch end, scores the model on validation and keeps a copy of its best trainable weights."""

    def __init__(self, score: Callable[[torch.nn.Module], float]):
        self.score = score
        self.history: list[dict[str, float]] = []
        self.best: dict[str, float] | None = None
        self.seconds = 0.0
        self._weights: dict[str, torch.Tensor] = {}

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        t = time.perf_counter()
        accuracy = self.score(model)
        self.history.append({"epoch": round(state.epoch, 4), "step": state.global_step, "validation_accuracy": accuracy})
        if self.best is None or accuracy > self.best["validation_accuracy"]:  # ties keep the earlier epoch
            self.best = self.history[-1]
            self._weights = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        self.seconds += time.perf_counter() - t

    def state(self) -> dict[str, Any]:
        return {"history": self.history, "best": self.best, "seconds": self.seconds, "weights": self._weights}

    def load_state(self, state: dict[str, Any]) -> None:
        self.history, self.best, self.seconds, self._weights = state["history"], state["best"], state["seconds"], state["weights"]

    @torch.no_grad()
    def restore(self, model: torch.nn.Module) -> None:
        for name, param in model.named_parameters():
            if name in self._weights:
                param.copy_(self._weights[name])


CHECKPOINT_STATE = "stylefit_state.pt"  # written last: a checkpoint folder without it is incomplete


class _Checkpoints(TrainerCallback):
    """A resumable checkpoint every ``every`` optimizer steps and at every epoch end (after the epoch's
    validation, so that a resumed run knows it); the newest complete checkpoint is the only one kept."""

    def __init__(self, root: Path, every: int, best: _BestEpoch | None, elapsed: Callable[[], float]):
        self.root, self.every, self.best, self.elapsed = root, every, best, elapsed

    def on_step_end(self, args, state, control, **kwargs):
        at_epoch_end = abs(state.epoch - round(state.epoch)) < 1e-9  # saved after on_epoch_end instead
        if state.global_step % self.every == 0 and not at_epoch_end:
            control.should_save = True

    def on_epoch_end(self, args, state, control, **kwargs):
        control.should_save = True

    def on_save(self, args, state, control, **kwargs):
        folder = self.root / f"checkpoint-{state.global_step}"
        extra = {"best_epoch": self.best.state() if self.best else None, "train_s": self.elapsed()}
        tmp = folder / f".{CHECKPOINT_STATE}.tmp"
        torch.save(extra, tmp)
        tmp.replace(folder / CHECKPOINT_STATE)
        for other in self.root.glob("checkpoint-*"):
            if other != folder:
                shutil.rmtree(other, ignore_errors=True)


def last_checkpoint(root: Path) -> Path | None:
    """The newest complete checkpoint under ``root``; incomplete ones (a kill while saving) are removed."""
    complete = []
    for folder in root.glob("checkpoint-*"):
        if (folder / CHECKPOINT_STATE).is_file():
            complete.append(folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return max(complete, key=_step, default=None)


def _step(checkpoint: Path) -> int:
    return int(checkpoint.name.rsplit("-", 1)[1])


def build_trainer(model, tokenizer, examples: list[TrainExample], recipe: Recipe, seed: int, output_dir: str,
                  callbacks: list[TrainerCallback] = (), label: str = "run", dtype: str = "float32"):
    """An SFTTrainer over the examples, its dataset tokenized and length-checked (nothing truncated),
    and the over-long examples it dropped (only where the recipe allows skipping)."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    if not examples:
        raise StylefitError(f"{label}: no training examples")
    on_cuda = next(model.parameters()).device.type == "cuda"
    config = SFTConfig(
        output_dir=output_dir, save_strategy="no", report_to="none", logging_steps=1, disable_tqdm=True,
        include_num_input_tokens_seen="non_padding", dataloader_num_workers=0,
        **recipe.sft_kwargs(seed, on_cuda, dtype),
    )
    peft_config = None
    if recipe.method == "lora":
        check_target_modules(model, recipe)
        peft_config = LoraConfig(r=recipe.lora_rank, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
                                 target_modules=list(recipe.target_modules), task_type="CAUSAL_LM")
    dataset = Dataset.from_list(training_rows(examples, chat=bool(tokenizer.chat_template)))
    if recipe.padding_free and model.config._attn_implementation == "sdpa":
        from stylefit.training.packed_attention import NAME

        model.set_attn_implementation(NAME)  # each example attended on its own; finetune sets SDPA back for answering
    trainer_class = SFTTrainer
    if recipe.head_on_response_only:
        from stylefit.training.response_head import ResponseHeadSFTTrainer as trainer_class
    trainer = trainer_class(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=peft_config, callbacks=list(callbacks))
    trainer.remove_callback(PrinterCallback)  # per-step log lines; the loss history is kept in the outcome instead
    skipped = _enforce_max_length(trainer, recipe, model, label)
    return trainer, skipped


def _enforce_max_length(trainer, recipe: Recipe, model, label: str) -> list[str]:
    """Over-long examples are an error naming the first one, or dropped and counted if the recipe says so."""
    try:
        limit = max_length_limit(recipe, model.config)
    except StylefitError as e:
        raise StylefitError(f"{label}: {e}") from None
    data = trainer.train_dataset
    over = [f"{i} ({len(ids)} tokens)" for i, ids in zip(data["id"], data["input_ids"]) if len(ids) > limit]
    if over and not recipe.skip_overlong:
        raise StylefitError(f"{label}: training example {over[0]} is longer than max_length {limit} "
                            f"({len(over)} over-long in all); nothing is truncated: raise max_length or skip over-long examples")
    if over:
        trainer.train_dataset = data.filter(lambda row: len(row["input_ids"]) <= limit)
        if len(trainer.train_dataset) == 0:
            raise StylefitError(f"{label}: every training example is longer than max_length {limit}")
    return over


def finetune(model, tokenizer, examples: list[TrainExample], recipe: Recipe, seed: int, *,
             validate: Callable[[torch.nn.Module], float] | None = None,
             progress: Callable[[int, int], None] | None = None, label: str = "run", dtype: str = "float32",
             checkpoints: Path | None = None, checkpoint_every: int = 10):
    """Fine-tune in place; returns (the trained model, possibly PEFT-wrapped, and the outcome).
    ``dtype``: the compute type (mixed precision for bfloat16/float16; the weights stay as loaded).

    ``validate(model) -> accuracy`` is called at every epoch end when the recipe selects checkpoints;
    the best epoch's weights are restored before returning. ``progress(total steps, advance)``.
    ``checkpoints``: a folder of this run's own (resumable checkpoints every ``checkpoint_every``
    steps and at epoch ends; a run finding one there goes on from it); None trains without any.
    """
    if checkpoints is not None and checkpoint_every < 1:
        raise StylefitError(f"checkpoint_every must be at least 1 step, got {checkpoint_every}")
    callbacks: list[TrainerCallback] = []
    if progress is not None:
        callbacks.append(_StepProgress(progress))
    best = None
    if recipe.select_checkpoint:
        if validate is None:
            raise ValueError("select_checkpoint needs a validate function")
        best = _BestEpoch(validate)
        callbacks.append(best)
    resume, before_s, t = None, 0.0, time.perf_counter()
    if checkpoints is not None:
        resume = last_checkpoint(checkpoints)
        if resume is not None:
            extra = torch.load(resume / CHECKPOINT_STATE, weights_only=False)
            before_s = extra["train_s"]
            if best is not None:
                best.load_state(extra["best_epoch"])
        callbacks.append(_Checkpoints(checkpoints, checkpoint_every, best, lambda: before_s + time.perf_counter() - t))
    folder = nullcontext(str(checkpoints)) if checkpoints is not None else tempfile.TemporaryDirectory(prefix="stylefit-sft-")
    try:
        with folder as output_dir:
            attention = model.config._attn_implementation  # padding-free training swaps it: answering uses this again
            trainer, skipped = build_trainer(model, tokenizer, examples, recipe, seed, output_dir, callbacks, label, dtype)
            loss_tokens = sum(sum(t != -100 for t in labels) for labels in trainer.train_dataset["labels"])
            t = time.perf_counter()
            trainer.train(resume_from_checkpoint=str(resume) if resume else None)
            if model.config._attn_implementation != attention:
                model.set_attn_implementation(attention)
            elapsed = before_s + time.perf_counter() - t
            state = trainer.state
            if best is not None:
                best.restore(trainer.model)
            sft_config = {k: v for k, v in trainer.args.to_dict().items() if k not in ("output_dir", "logging_dir")}
    except BaseException:
        if checkpoints is not None and last_checkpoint(checkpoints) is None:
            shutil.rmtree(checkpoints, ignore_errors=True)  # a run that failed before its first checkpoint leaves nothing
        raise
    validation_s = best.seconds if best else 0.0
    outcome = TrainingOutcome(
        examples=len(trainer.train_dataset),
        skipped=skipped,
        steps=state.global_step,
        epochs=state.epoch,
        loss_history=[(h["step"], h["loss"]) for h in state.log_history if "loss" in h],
        train_tokens=int(state.num_input_tokens_seen),
        loss_tokens=int(round(loss_tokens * state.epoch)),
        train_s=elapsed - validation_s,
        validation_s=validation_s,
        checkpoints=best.history if best else [],
        selected_epoch=best.best["epoch"] if best else None,
        sft_config=sft_config,
        resumed_from_step=_step(resume) if resume else None,
    )
    return trainer.model, outcome
