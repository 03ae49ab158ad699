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
