"""Fine-tuning with TRL on a tiny random Llama: the loss goes down, only response tokens carry it,
nothing is truncated, checkpoint selection restores the best epoch, the recipe is recorded."""

import math

import pytest
import torch

from conftest import char_tokenizer, tiny_llama
from stylefit.core.errors import StylefitError
from stylefit.training.recipe import Recipe
from stylefit.training.sft import TrainExample, build_trainer, finetune


pytestmark = pytest.mark.usefixtures("one_thread")


def examples(n=16):
    return [TrainExample(id=f"q{i}", prompt=f"What is {i} + 1?", response=f"{i} + 1 = {i + 1}\nFinal Answer: {i + 1}") for i in range(n)]


def test_a_tiny_model_learns_its_loss_goes_down(tmp_path):
    recipe = Recipe(epochs=4, batch_size=4, learning_rate=5e-2, lora_dropout=0.0)  # LoRA r=8 on q/v, as the paper
    model, outcome = finetune(tiny_llama(seed=1), char_tokenizer(), examples(), recipe, seed=0)
    losses = [loss for _, loss in outcome.loss_history]
    assert outcome.steps == 16 and len(losses) == 16 and outcome.epochs == 4
    assert all(math.isfinite(x) for x in losses)
    # A random 128-token model starts near ln(128) = 4.85. Adapters on q/v of a random network move it
    # slowly (measured: 4.86 -> 4.66), but steadily.
    assert losses[0] > 4.5
    assert sum(losses[-4:]) / 4 < losses[0] - 0.1
    assert sum(losses[-4:]) < sum(losses[4:8])
    assert outcome.examples == 16 and outcome.skipped == []
    assert outcome.train_tokens > outcome.loss_tokens > 0
    assert type(model).__name__.startswith("PeftModel")
    config = outcome.sft_config
    assert config["learning_rate"] == 5e-2 and config["num_train_epochs"] == 4 and config["seed"] == 0
    assert config["bf16"] is False and config["activation_checkpointing"] is False and config["use_cpu"] is True
    assert config["per_device_train_batch_size"] == 4 and config["lr_scheduler_type"] == "linear"


def test_padding_free_batches_train_the_same_weights_as_padded_ones(monkeypatch):
    """The same batches laid end to end: each example attends only to itself and no loss crosses a boundary,
    so losses and adapters match padded training up to rounding (examples of very different lengths)."""
    from transformers import AttentionInterface

    from stylefit.training import packed_attention

    rows = []  # the packed rows the attention saw, and how many examples each held

    def spy(module, query, key, value, attention_mask, **kwargs):
        if kwargs.get("cu_seq_lens_q") is not None:
            rows.append((query.shape[2], len(kwargs["cu_seq_lens_q"]) - 1))
        return packed_attention.packed_sdpa_forward(module, query, key, value, attention_mask, **kwargs)

    monkeypatch.setitem(AttentionInterface._global_mapping, packed_attention.NAME, spy)
    varied = [TrainExample(id=f"q{i}", prompt=f"What is {i} + 1?", response=f"{i} + 1 = {i + 1}\n" * (1 + i % 5) + f"Final Answer: {i + 1}")
              for i in range(12)]
    trained = {}
    for padding_free in (False, True):
        recipe = Recipe(epochs=2, batch_size=4, learning_rate=5e-2, lora_dropout=0.0, padding_free=padding_free)
        model, outcome = finetune(tiny_llama(seed=1), char_tokenizer(), varied, recipe, seed=0)
        adapters = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}
        trained[padding_free] = (outcome, adapters, model.config._attn_implementation)
    (padded, weights, _), (flat, flat_weights, _) = trained[False], trained[True]
    assert flat.sft_config["padding_free"] is True and padded.sft_config["padding_free"] is False
    assert flat.train_tokens == padded.train_tokens and flat.loss_tokens == padded.loss_tokens
    assert [s for s, _ in flat.loss_history] == [s for s, _ in padded.loss_history]
    assert [l for _, l in flat.loss_history] == pytest.approx([l for _, l in padded.loss_history], rel=1e-4)
    assert padded.loss_history[0][1] - padded.loss_history[-1][1] > 0.05  # they trained, and moved alike
    for name, w in weights.items():
        assert torch.allclose(flat_weights[name], w, atol=1e-5), name
    assert trained[True][2] == trained[False][2] == "sdpa"  # answering runs SDPA again after packed training
    # 12 examples, batches of 4, 2 epochs, 2 layers: 6 packed rows of 4 examples through each layer
    assert len(rows) == 6 * 2 and all(n == 4 for _, n in rows) and {length for length, _ in rows} != {rows[0][0]}
    # the field is recorded only when set, so that runs stored before it existed keep their keys
    assert "padding_free" not in Recipe().model_dump() and Recipe(padding_free=True).model_dump()["padding_free"] is True


@pytest.mark.parametrize("method,padding_free", [("lora", True), ("lora", False), ("full", True)])
def test_the_head_on_response_tokens_only_trains_the_same_weights(monkeypatch, method, padding_free):
    """The LM head projects the response tokens alone (not the prompts, as TRL does on a CPU): the same
    losses and weights up to rounding, padded or packed, adapters or every weight (the head's included)."""
    from stylefit.training import response_head

    projected, kernel = [], response_head.ChunkedLogProbFunction  # rows the head projected per training step

    class Spy(kernel):
        @staticmethod
        def forward(ctx, hidden, *args):
            projected.append(hidden.shape[0])
            return kernel.forward(ctx, hidden, *args)

    monkeypatch.setattr(response_head, "ChunkedLogProbFunction", Spy)
    varied = [TrainExample(id=f"q{i}", prompt=f"Tell me what {i} plus one is, please.", response=f"{i} + 1 = {i + 1}\n" * (1 + i % 3))
              for i in range(12)]
    trained = {}
    for sparse in (False, True):
        recipe = Recipe(method=method, epochs=2, batch_size=4, learning_rate=5e-2 if method == "lora" else 1e-2,
                        lora_dropout=0.0, padding_free=padding_free, head_on_response_only=sparse)
        model, outcome = finetune(tiny_llama(seed=1), char_tokenizer(), varied, recipe, seed=0)
        trained[sparse] = (outcome, {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad})
    (dense, weights), (sparse, sparse_weights) = trained[False], trained[True]
    assert [s for s, _ in sparse.loss_history] == [s for s, _ in dense.loss_history] and len(projected) == sparse.steps == 6
    assert [l for _, l in sparse.loss_history] == pytest.approx([l for _, l in dense.loss_history], rel=1e-5)
    assert dense.loss_history[0][1] - dense.loss_history[-1][1] > 0.05  # they trained, and moved alike
    assert set(sparse_weights) == set(weights) and ("lm_head.weight" in weights) == (method == "full")
    for name, w in weights.items():
        assert torch.allclose(sparse_weights[name], w, atol=1e-5), name
    # the head saw the response tokens only: their count, not the prompts' (over half of every example)
    assert sum(projected) == sparse.loss_tokens and sparse.train_tokens > 2 * sparse.loss_tokens
    assert "head_on_response_only" not in Recipe().model_dump()  # recorded only when set: older runs keep their keys
    assert Recipe(head_on_response_only=True).model_dump()["head_on_response_only"] is True


def test_the_head_on_response_tokens_only_refuses_a_model_that_scales_its_logits():
    model = tiny_llama(seed=1)
    model.config.logit_scale = 0.5  # as Cohere's: the kernel here would train on unscaled logits
    with pytest.raises(StylefitError, match="head_on_response_only: the model scales its logits \\(logit_scale\\)"):
        finetune(model, char_tokenizer(), examples(4), Recipe(batch_size=4, head_on_response_only=True), seed=0)


def test_full_fine_tuning_trains_every_weight_and_learns_fast():
    base = tiny_llama(seed=1)
    before = {n: p.detach().clone() for n, p in base.named_parameters()}
    recipe = Recipe(method="full", epochs=4, batch_size=4, learning_rate=1e-2)
    model, outcome = finetune(base, char_tokenizer(), examples(), recipe, seed=0)
    assert Recipe(method="full").learning_rate == 2e-5 and Recipe().learning_rate == 2e-4
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == set(before)
    losses = [loss for _, loss in outcome.loss_history]
    assert losses[-1] < losses[0] - 1.5  # measured: 4.86 -> 2.42


def test_the_loss_covers_the_response_and_its_end_of_turn_only(tmp_path):
    tok = char_tokenizer()
    trainer, skipped = build_trainer(tiny_llama(), tok, examples(4), Recipe(), seed=0, output_dir=str(tmp_path))
    assert skipped == []
    for i, row in enumerate(trainer.train_dataset):
        trained = [t for t in row["labels"] if t != -100]
        assert tok.decode(trained) == f"{i} + 1 = {i + 1}\nFinal Answer: {i + 1}</s>"
        prompt = tok.decode(row["input_ids"][: len(row["input_ids"]) - len(trained)])
        assert prompt == f"<|user|>What is {i} + 1?</s><|assistant|>"  # the target's own chat template


def test_an_over_long_example_is_an_error_naming_it_or_a_counted_skip(tmp_path):
    # <|user|> + 14 prompt chars + </s> + <|assistant|> + 120 response chars + </s> = 138 tokens
    data = examples(4) + [TrainExample(id="long-one", prompt="What is 1 + 1?", response="2 " * 60)]
    with pytest.raises(StylefitError, match=r"run: training example long-one \(138 tokens\) is longer than max_length 100"):
        build_trainer(tiny_llama(), char_tokenizer(), data, Recipe(max_length=100), seed=0, output_dir=str(tmp_path))
    trainer, skipped = build_trainer(tiny_llama(), char_tokenizer(), data, Recipe(max_length=100, skip_overlong=True),
                                     seed=0, output_dir=str(tmp_path))
    assert skipped == ["long-one (138 tokens)"] and len(trainer.train_dataset) == 4


@pytest.mark.parametrize("template", ["chat", "plain", "smollm2"])
def test_lengths_counted_before_any_run_are_the_trainers(tmp_path, template):
    # verify refuses over-long examples before a grid starts from these counts: they must be the trainer's own
    from transformers import AutoTokenizer

    from stylefit.models.registry import resolve_model
    from stylefit.training.sft import training_lengths

    tok = AutoTokenizer.from_pretrained(resolve_model("smollm2-135m-instruct").path) if template == "smollm2" else char_tokenizer()
    if template == "plain":
        tok.chat_template = None
    data = examples(6) + [TrainExample(id="long-one", prompt="What is 1 + 1?\nThink.", response="2 " * 60 + "\nFinal Answer: 2")]
    trainer, _ = build_trainer(tiny_llama(), tok, data, Recipe(), seed=0, output_dir=str(tmp_path))
    assert training_lengths(tok, data) == [len(ids) for ids in trainer.train_dataset["input_ids"]]


def test_unknown_lora_modules_are_a_clear_error(tmp_path):
    with pytest.raises(StylefitError, match=r"LoRA target module\(s\) qkv not in the model .*q_proj"):
        build_trainer(tiny_llama(), char_tokenizer(), examples(2), Recipe(target_modules=("qkv",)), seed=0, output_dir=str(tmp_path))


def test_checkpoint_selection_restores_the_best_epoch():
    scripted = iter([0.2, 0.9, 0.5])  # validation accuracy at the end of epochs 1, 2, 3
    snapshots = []

    def validate(model):
        snapshots.append({n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad})
        return next(scripted)

    recipe = Recipe(epochs=3, batch_size=4, learning_rate=1e-2, select_checkpoint=True)
    model, outcome = finetune(tiny_llama(), char_tokenizer(), examples(8), recipe, seed=0, validate=validate)
    assert [c["validation_accuracy"] for c in outcome.checkpoints] == [0.2, 0.9, 0.5]
    assert [c["step"] for c in outcome.checkpoints] == [2, 4, 6]
    assert outcome.selected_epoch == 2.0
    trained = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert all(torch.equal(trained[n], snapshots[1][n]) for n in trained)
    assert not all(torch.equal(trained[n], snapshots[2][n]) for n in trained)


def test_a_model_config_without_context_length_is_an_error_not_a_default(tmp_path):
    model = tiny_llama()

    class NoContextLength(type(model.config)):  # as configs of architectures that do not record one
        max_position_embeddings = None

    model.config.__dict__.pop("max_position_embeddings", None)
    model.config.__class__ = NoContextLength
    with pytest.raises(StylefitError, match="run: the model's config gives no max_position_embeddings"):
        build_trainer(model, char_tokenizer(), examples(4), Recipe(), seed=0, output_dir=str(tmp_path))


class _Killed(Exception):
    pass


def _killing_at(step: int):
    """build_trainer, with a callback that stops training once optimizer step ``step`` is done (before
    anything is saved for it)."""
    from transformers import TrainerCallback

    import stylefit.training.sft as sft

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == step:
                raise _Killed

    def build(*args, **kwargs):
        trainer, skipped = sft_build(*args, **kwargs)
        trainer.add_callback(Kill())
        return trainer, skipped

    sft_build = sft.build_trainer
    return build


# 3 steps an epoch, a checkpoint every 2 steps and at epoch ends: saved at steps 2, 3, 4, 6, 8, 9.
# Killed at step 6, the end of epoch 2 but before its validation: resumes from step 4.
# Killed at step 8: resumes from step 6, whose validation the checkpoint carries.
@pytest.mark.parametrize("killed_at, resumed_from", [(6, 4), (8, 6)])
def test_a_run_killed_mid_training_resumes_from_its_checkpoint_with_the_same_bits(tmp_path, monkeypatch, killed_at, resumed_from):
    import stylefit.training.sft as sft

    recipe = Recipe(epochs=3, batch_size=4, learning_rate=5e-2, lora_dropout=0.1, select_checkpoint=True)

    def validate(model):  # depends on the weights, so a wrong restore shows
        return float(sum(p.detach().sum() for p in model.parameters() if p.requires_grad))

    def train(folder):
        return finetune(tiny_llama(seed=1), char_tokenizer(), examples(12), recipe, seed=0, validate=validate,
                        checkpoints=tmp_path / folder, checkpoint_every=2)

    whole, outcome = train("whole")
    assert outcome.resumed_from_step is None and outcome.steps == 9 and len(outcome.checkpoints) == 3
    with monkeypatch.context() as patch:
        patch.setattr(sft, "build_trainer", _killing_at(killed_at))
        with pytest.raises(_Killed):
            train("killed")
    assert [f.name for f in (tmp_path / "killed").glob("checkpoint-*")] == [f"checkpoint-{resumed_from}"]
    resumed, again = train("killed")
    assert again.resumed_from_step == resumed_from
    assert again.loss_history == outcome.loss_history and again.checkpoints == outcome.checkpoints
    assert again.selected_epoch == outcome.selected_epoch and again.train_tokens == outcome.train_tokens
    for (name, a), (_, b) in zip(whole.named_parameters(), resumed.named_parameters()):
        assert torch.equal(a, b), name
