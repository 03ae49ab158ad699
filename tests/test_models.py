"""The transformers backend: generation, hidden states, and loading from a local folder."""

import numpy as np
import pytest

from stylefit.core.errors import StylefitError
from stylefit.models import ContinuationRequest, GenerationSpec, load_model, resolve_model


def test_greedy_generation_is_deterministic_and_reports_why_it_stopped(tiny_lm):
    prompts = [tiny_lm.render_chat("What is 1 + 1?"), tiny_lm.render_chat("Hi")]
    a = tiny_lm.generate(prompts, GenerationSpec(max_new_tokens=12))
    b = tiny_lm.generate(list(reversed(prompts)), GenerationSpec(max_new_tokens=12))
    assert [g.text for g in a] == [g.text for g in reversed(b)]  # batch order and padding don't matter
    for g in a:
        assert g.finish_reason in {"stop", "length"}
        assert g.n_tokens <= 12 and (g.finish_reason == "stop" or g.n_tokens == 12)


def test_sampling_depends_on_the_seed_and_is_reproducible(tiny_lm):
    prompts = [tiny_lm.render_chat("Tell me a story")] * 4
    spec = GenerationSpec(max_new_tokens=20, temperature=1.0, seed=7)
    first = [g.text for g in tiny_lm.generate(prompts, spec, seeds=[0, 1, 2, 3])]
    assert first == [g.text for g in tiny_lm.generate(prompts, spec, seeds=[0, 1, 2, 3])]
    assert len(set(first)) > 1  # four samples of a random model differ
    other = [g.text for g in tiny_lm.generate(prompts, GenerationSpec(max_new_tokens=20, temperature=1.0, seed=8), seeds=[0, 1, 2, 3])]
    assert other != first
    # A sample depends on its own seed only, not on the batch it was drawn in.
    alone = tiny_lm.generate(prompts[:1], spec, seeds=[2])[0].text
    mixed = tiny_lm.generate([tiny_lm.render_chat("Another, longer prompt here"), prompts[0]], spec, seeds=[9, 2])[1].text
    assert alone == mixed == first[2]


def test_stop_strings_and_stop_regex_end_a_generation_where_they_first_appear(parrot_lm):
    prompt = parrot_lm.render_chat("What is 4 + 1? End with 'Final Answer: N'.")
    (free,) = parrot_lm.generate([prompt], GenerationSpec(max_new_tokens=30))
    assert (free.text, free.n_tokens) == ("Final Answer: 1", 15)  # one token a character, then end-of-turn
    for spec in (GenerationSpec(max_new_tokens=30, stop=("zzz", "Ans")), GenerationSpec(max_new_tokens=30, stop_regex=r"A\w+:")):
        (g,) = parrot_lm.generate([prompt], spec)
        assert (g.text, g.n_tokens, g.finish_reason) == ("Final Ans" if spec.stop else "Final Answer:", 9 if spec.stop else 13, "stop")


def test_hidden_states_are_mean_pooled_per_layer(tiny_lm):
    a, b = tiny_lm.hidden_states(["hello", "hello world"])
    assert a.shape == (3, 32)  # embeddings + 2 layers, hidden size 32
    assert not np.allclose(a[-1], b[-1])


def test_a_local_folder_loads_with_a_content_revision(tmp_path, tiny_lm, monkeypatch):
    monkeypatch.setenv("STYLEFIT_HOME", str(tmp_path / "home"))
    folder = tmp_path / "tiny-model"
    tiny_lm.model.save_pretrained(folder)
    tiny_lm.tokenizer.save_pretrained(folder)
    resolved = resolve_model(str(folder))
    assert len(resolved.revision) == 64 and resolved.path == str(folder)
    lm = load_model(str(folder))
    assert lm.revision == resolved.revision and lm.template_id == tiny_lm.template_id
    prompt = lm.render_chat("a")
    assert lm.loglikelihood([ContinuationRequest(prompt, "b")])[0].n_tokens == 1


def test_a_local_folder_revision_covers_tokenizer_and_chat_template(tmp_path, tiny_lm, monkeypatch):
    monkeypatch.setenv("STYLEFIT_HOME", str(tmp_path / "home"))
    folder = tmp_path / "tiny-model"
    tiny_lm.model.save_pretrained(folder)
    tiny_lm.tokenizer.save_pretrained(folder)
    before = resolve_model(str(folder)).revision
    assert resolve_model(str(folder)).revision == before  # stable
    template = next(p for p in folder.iterdir() if "add_generation_prompt" in p.read_text(errors="ignore"))
    template.write_text(template.read_text().replace("add_generation_prompt %}<|assistant|>", "add_generation_prompt %}<|bot|>"))
    assert resolve_model(str(folder)).revision != before


def test_hub_errors_say_what_went_wrong(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(StylefitError) as e:
        resolve_model("no-such-org/no-such-model")
    message = str(e.value)
    assert message.startswith("model 'no-such-org/no-such-model': the Hugging Face hub could not give its config (")
    assert len(message) > 120 and "\n" not in message  # the library's own reason, on one line


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(StylefitError, match="unknown model 'smollm9'"):
        resolve_model("smollm9")


# ---- device, dtype and the token budget ------------------------------------------------------

def test_auto_device_and_dtype_follow_the_hardware():
    import torch

    from stylefit.models.device import resolve_device, resolve_dtype

    cuda = torch.cuda.is_available()
    assert resolve_device("auto") == ("cuda" if cuda else "cpu")
    assert resolve_dtype("auto", "cpu") == "float32"
    assert resolve_dtype("bfloat16", "cpu") == "bfloat16"
    if cuda:
        assert resolve_dtype("auto", "cuda") == ("bfloat16" if torch.cuda.is_bf16_supported() else "float32")
    else:
        with pytest.raises(StylefitError, match="device 'cuda': no CUDA device is visible"):
            resolve_device("cuda")
    with pytest.raises(StylefitError, match=r"unknown device 'gpu' \(known: auto, cpu, cuda, cuda:N\)"):
        resolve_device("gpu")
    with pytest.raises(StylefitError, match="unknown dtype 'fp8'"):
        resolve_dtype("fp8", "cpu")


def _budgeted(budget: int):
    from conftest import char_tokenizer, tiny_llama
    from stylefit.models.registry import ResolvedModel
    from stylefit.models.transformers_lm import TransformersLM

    lm = TransformersLM(ResolvedModel("tiny", "<in-memory>", "tiny-0"), model=tiny_llama(0), tokenizer=char_tokenizer(),
                        token_budget=budget)
    widest = []
    lm.model.register_forward_pre_hook(lambda module, args, kwargs: widest.append(kwargs["input_ids"].numel()), with_kwargs=True)
    return lm, widest


def test_no_forward_pass_exceeds_the_token_budget_and_results_do_not_change():
    small, widths = _budgeted(16)
    large, _ = _budgeted(4096)
    context = small.render_chat("A question long enough to need several chunks of sixteen tokens each.")
    requests = [ContinuationRequest(context, "Short."), ContinuationRequest(context, "A much longer answer " * 5),
                ContinuationRequest(small.render_chat("Other"), "x" * 40)]
    chunked = small.loglikelihood(requests)
    whole = large.loglikelihood(requests)
    for a, b in zip(chunked, whole):
        assert a.n_tokens == b.n_tokens and a.context_tokens == b.context_tokens
        assert np.allclose(a.token_logprobs, b.token_logprobs, atol=1e-5)
    texts = ["hello there, a text of some length", "short", "y" * 50]
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(small.hidden_states(texts), large.hidden_states(texts)))
    prompts = [context, small.render_chat("Hi"), small.render_chat("Another prompt of middling size")]
    spec = GenerationSpec(max_new_tokens=10)
    assert [g.text for g in small.generate(prompts, spec)] == [g.text for g in large.generate(prompts, spec)]
    assert max(widths) <= 16 and len(widths) > 20  # chunked, not one pass per sequence


def test_the_dtype_is_part_of_numeric_cache_keys(tiny_task, store):
    import torch

    from conftest import char_tokenizer, tiny_llama
    from stylefit import select
    from stylefit.models.registry import ResolvedModel
    from stylefit.models.transformers_lm import TransformersLM

    def lm(dtype):
        return TransformersLM(ResolvedModel("tiny", "<in-memory>", "tiny-0"), model=tiny_llama(0).to(dtype), tokenizer=char_tokenizer())

    fp32, bf16 = lm(torch.float32), lm(torch.bfloat16)
    assert (fp32.dtype, bf16.dtype) == ("float32", "bfloat16")
    args = (tiny_task, tiny_task / "candidates")
    first = select(*args, target=fp32, scorer="ppl", n=4, store=store)
    other = select(*args, target=bf16, scorer="ppl", n=4, store=store)
    assert other.computed == 12 and other.dtype == "bfloat16"  # nothing reused across dtypes
    assert [e.mean for e in other.ranking.estimates] != [e.mean for e in first.ranking.estimates]
    select(*args, target=fp32, scorer="length", n=4, store=store)
    assert select(*args, target=bf16, scorer="length", n=4, store=store).computed == 0  # token counts are shared


def _base_model_lm(model):
    """``model`` behind a tokenizer that, like Gemma's, puts BOS before any text by itself, and has no
    chat template (a base model)."""
    from tokenizers import processors

    from conftest import char_tokenizer
    from stylefit.models.registry import ResolvedModel
    from stylefit.models.transformers_lm import TransformersLM

    tok = char_tokenizer()
    tok.chat_template = None
    tok._tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.bos_token_id)])
    return TransformersLM(ResolvedModel("base", "<in-memory>", "base-0"), model=model, tokenizer=tok)


def test_a_base_model_generates_and_pools_after_the_bos_its_tokenizer_adds_as_scoring_and_training_read_it():
    """Gemma-3 base without its <bos> writes garbage: generation, hidden states and scoring all read a
    plain prompt after the BOS the tokenizer puts first (as TRL's plain prompt-completion training
    does), and a text that already starts with it keeps one."""
    import torch

    from conftest import char_tokenizer, tiny_llama
    from stylefit.models.prompts import continuation_request, render_prompt
    from stylefit.models.registry import ResolvedModel
    from stylefit.models.transformers_lm import TransformersLM

    base = _base_model_lm(tiny_llama(seed=3))
    bare_tok = char_tokenizer()
    bare_tok.chat_template = None
    bare = TransformersLM(ResolvedModel("bare", "<in-memory>", "bare-0"), model=base.model, tokenizer=bare_tok)
    assert base.bos_prefix and not bare.bos_prefix
    prompt = render_prompt(base, "plain", "What is 2 + 5?")
    spec = GenerationSpec(max_new_tokens=16)
    with_bos = [g.text for g in bare.generate(["<s>" + prompt], spec)]  # the BOS written out, read by a tokenizer that adds none
    for text in (prompt, "<s>" + prompt):  # one BOS, never two: a character is a token, so the prompt reads len + 1
        before = base.stats["prefill_tokens"]
        assert [g.text for g in base.generate([text], spec)] == with_bos
        assert base.stats["prefill_tokens"] - before == len(prompt) + 1
    context, _ = base.token_ids(continuation_request(base, "plain", "What is 2 + 5?", "7"))
    assert context == base.tokenizer(prompt).input_ids and context[0] == base.tokenizer.bos_token_id
    # hidden states read the BOS but pool the text's own tokens only
    (pooled,) = base.hidden_states(["hello"])
    ids = torch.tensor([base.tokenizer("hello").input_ids])
    states = torch.stack(base.model(input_ids=ids, output_hidden_states=True).hidden_states)[:, 0, 1:].mean(1)
    assert np.allclose(pooled, states.detach().numpy(), atol=1e-5)


def test_a_gemma3_batch_generates_what_each_prompt_generates_alone():
    """Gemma-3's sliding-window layers under left padding: a prompt's greedy answer does not depend on
    the shorter or longer prompts it is batched with (prompts longer than the window included)."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from conftest import VOCAB_SIZE

    torch.manual_seed(0)
    config = Gemma3TextConfig(vocab_size=VOCAB_SIZE, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              num_key_value_heads=2, head_dim=8, max_position_embeddings=512, sliding_window=8,
                              layer_types=["sliding_attention", "full_attention"], bos_token_id=1, eos_token_id=2, pad_token_id=0)
    lm = _base_model_lm(Gemma3ForCausalLM(config).eval())
    prompts = ["Calculate 5 - 3.\n", "Hi\n", "John is married to Mary. They have a son, Tom. What is Tom to Mary?\n"]
    spec = GenerationSpec(max_new_tokens=12)
    alone = [lm.generate([p], spec)[0].text for p in prompts]
    assert [g.text for g in lm.generate(prompts, spec)] == alone
    assert len(set(alone)) == 3
