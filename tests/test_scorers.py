"""Scorer values against log-probabilities computed by hand."""

import json
import math
from pathlib import Path

import pytest
import torch

from stylefit.core.errors import StylefitError
from stylefit.data.candidates import Candidate
from stylefit.models.base import ContinuationRequest
from stylefit.scoring import ScoringItem, get_scorer

UNIFORM = json.loads((Path(__file__).parent / "cases" / "scorers_uniform.json").read_text())


def score_one(lm, scorer, prompt, response):
    item = ScoringItem(Candidate("q0", "s", prompt, response), 0)
    requests = scorer.requests(lm, item)
    results = lm.loglikelihood(requests) if scorer.needs_logprobs else lm.count_tokens(requests)
    return scorer.combine(item, results)


@pytest.mark.parametrize("case", UNIFORM["cases"], ids=[f"{c['scorer']}-{c['params']}" for c in UNIFORM["cases"]])
def test_scorer_on_uniform_model(uniform_lm, case):
    score = score_one(uniform_lm, get_scorer(case["scorer"], **case["params"]), "What is 3 + 4?", case["response"])
    assert score.value == pytest.approx(case["value"], rel=1e-5)
    assert score.n_tokens == case["n_tokens"]
    if case["nll"] is None:
        assert score.nll is None
    else:
        assert score.nll == pytest.approx(case["nll"], rel=1e-6)


def naive_logprobs(lm, context: str, continuation: str, special_tokens: bool) -> list[float]:
    """One full forward pass, no cache: the reference the fast path must equal."""
    tok = lm.tokenizer
    n_ctx = len(tok(context, add_special_tokens=special_tokens).input_ids)
    full = tok(context + continuation, add_special_tokens=special_tokens).input_ids
    with torch.no_grad():
        logp = torch.log_softmax(lm.model(torch.tensor([full])).logits[0].float(), dim=-1)
    return [float(logp[t - 1, full[t]]) for t in range(n_ctx, len(full))]


def test_shared_context_batching_matches_a_naive_forward(tiny_lm):
    ctx_a, ctx_b = tiny_lm.render_chat("What is 2 + 2?"), tiny_lm.render_chat("Name a colour.")
    requests = [
        ContinuationRequest(ctx_a, "4"),
        ContinuationRequest(ctx_a, "2 + 2 = 4\nFinal Answer: 4"),
        ContinuationRequest(ctx_a, "Let me think. Two and two make four.\nFinal Answer: 4"),
        ContinuationRequest(ctx_b, "Blue."),
        ContinuationRequest("[INST] hi [/INST]", " hello there", special_tokens=True),
    ]
    for request, score in zip(requests, tiny_lm.loglikelihood(requests)):
        expected = naive_logprobs(tiny_lm, request.context, request.continuation, request.special_tokens)
        assert len(score.token_logprobs) == len(expected)
        assert score.token_logprobs == pytest.approx(expected, abs=1e-5)


def test_ppl_equals_exp_of_hand_computed_mean_nll(tiny_lm):
    prompt, response = "What is 5 + 1?", "5 + 1 = 6\nFinal Answer: 6"
    logprobs = naive_logprobs(tiny_lm, tiny_lm.render_chat(prompt), response, False)
    score = score_one(tiny_lm, get_scorer("ppl"), prompt, response)
    assert score.value == pytest.approx(math.exp(-sum(logprobs) / len(logprobs)), rel=1e-5)
    assert score.value > 1.0


def test_ifd_is_the_ratio_of_conditional_to_unconditional_nll(tiny_lm):
    prompt, response = "What is 5 + 1?", "Final Answer: 6"
    cond = naive_logprobs(tiny_lm, tiny_lm.render_chat(prompt), response, False)
    # L(y) is scored after the BOS token alone.
    uncond = naive_logprobs(tiny_lm, "<s>", response, False)
    score = score_one(tiny_lm, get_scorer("ifd"), prompt, response)
    assert score.value == pytest.approx((sum(cond) / len(cond)) / (sum(uncond) / len(uncond)), rel=1e-5)


def test_overlong_sequence_is_an_error_not_a_truncation(tiny_lm):
    request = ContinuationRequest(tiny_lm.render_chat("q"), "x" * 600, label="strategy 's' id 'q9'")
    with pytest.raises(StylefitError, match="strategy 's' id 'q9'.*exceed the context"):
        tiny_lm.loglikelihood([request])


def test_unknown_scorer_and_bad_params_are_clear_errors():
    with pytest.raises(StylefitError, match="unknown scorer 'pplx'"):
        get_scorer("pplx")
    with pytest.raises(StylefitError, match="unknown template"):
        get_scorer("ppl", template="chatml")
    with pytest.raises(StylefitError, match="scorer 'ppl'"):
        get_scorer("ppl", k=3)


def test_rsr_ranks_and_ratio_match_a_naive_forward(tiny_lm):
    """Each token's rank among the full logits, clipped; the response's ratio of sums."""
    prompt, response = "What is 5 + 1?", "5 + 1 = 6\nFinal Answer: 6"
    context = tiny_lm.render_chat(prompt)
    tok = tiny_lm.tokenizer
    n_ctx, full = len(tok(context, add_special_tokens=False).input_ids), tok(context + response, add_special_tokens=False).input_ids
    with torch.no_grad():
        logp = torch.log_softmax(tiny_lm.model(torch.tensor([full])).logits[0].float(), dim=-1)
    ranks = [int((logp[t - 1] > logp[t - 1, full[t]]).sum()) + 1 for t in range(n_ctx, len(full))]
    nlls = [-float(logp[t - 1, full[t]]) for t in range(n_ctx, len(full))]
    assert max(ranks) > 3  # a random model: the clip below must bite
    for clip in (100, 3):
        score = score_one(tiny_lm, get_scorer("rsr", clip=clip), prompt, response)
        clipped = [min(r, clip) for r in ranks]
        assert score.value == pytest.approx(sum(clipped) / sum(nlls), rel=1e-5)
        assert score.parts == pytest.approx((sum(clipped) / len(ranks), sum(nlls) / len(nlls)), rel=1e-5)


def test_local_naturalness_scores_each_step_in_its_window(tiny_lm):
    prompt, response = "What is 5 + 1 - 2?", "5 + 1 = 6\n6 - 2 = 4\nFinal Answer: 4"
    context = tiny_lm.render_chat(prompt)
    steps = ["5 + 1 = 6", "\n6 - 2 = 4", "\nFinal Answer: 4"]
    mean = lambda xs: sum(xs) / len(xs)
    # window 1: each step sees the question and the step before it
    expected = [naive_logprobs(tiny_lm, context, steps[0], False), naive_logprobs(tiny_lm, context + steps[0], steps[1], False),
                naive_logprobs(tiny_lm, context + steps[1], steps[2], False)]
    score = score_one(tiny_lm, get_scorer("local", window=1), prompt, response)
    assert score.value == pytest.approx(mean([-mean(s) for s in expected]), rel=1e-5)
    assert score.n_tokens == len(response)  # every character once (character-level tokenizer)
    # a window as long as the response: the steps' tokens are the whole response's, as ppl sees them
    whole = score_one(tiny_lm, get_scorer("local", window=5), prompt, response)
    assert whole.nll == pytest.approx(score_one(tiny_lm, get_scorer("ppl"), prompt, response).nll, rel=1e-5)
    # window 0: a step begins the answer, without the line break that joined it to the last one
    alone = score_one(tiny_lm, get_scorer("local", window=0), prompt, response)
    assert alone.value == pytest.approx(mean([-mean(naive_logprobs(tiny_lm, context, s.lstrip(), False)) for s in steps]), rel=1e-5)
    with pytest.raises(StylefitError, match="unknown unit 'words'"):
        get_scorer("local", unit="words")


@pytest.mark.integration
def test_the_batched_engine_equals_one_forward_per_request_on_the_real_model():
    """Contexts of different lengths batched together (left-padded), continuations after each one's
    cached keys and values: within 1e-4 mean NLL of a plain forward pass per request."""
    from stylefit.data import load_candidates, load_task
    from stylefit.models import load_model

    lm = load_model("smollm2-135m-instruct")
    task = load_task("examples/chain_sum")
    candidates = load_candidates(task, "examples/chain_sum/candidates")
    requests = [ContinuationRequest(lm.render_chat(c.prompt), c.response)
                for qid in candidates.ids[:4] for c in (candidates.by_strategy[s][qid] for s in candidates.strategies)]
    requests.append(ContinuationRequest(lm.render_chat("A much longer question " * 20), "Final Answer: 1"))
    fast = lm.loglikelihood(requests)
    for request, score in zip(requests, fast):
        expected = naive_logprobs(lm, request.context, request.continuation, False)
        assert len(score.token_logprobs) == len(expected)
        assert abs(score.mean_nll + sum(expected) / len(expected)) < 1e-4


def test_a_model_giving_nan_is_an_error_naming_the_item(tiny_task, store):
    import torch

    from conftest import char_tokenizer, tiny_llama
    from stylefit.data import load_candidates, load_task
    from stylefit.models.registry import ResolvedModel
    from stylefit.models.transformers_lm import TransformersLM
    from stylefit.scoring import get_scorer
    from stylefit.scoring.base import score_sample

    model = tiny_llama()
    with torch.no_grad():
        model.model.norm.weight.fill_(float("nan"))
    lm = TransformersLM(ResolvedModel("nan", "<in-memory>", "tiny-nan"), model=model, tokenizer=char_tokenizer())
    task = load_task(tiny_task)
    candidates = load_candidates(task, tiny_task / "candidates")
    with pytest.raises(StylefitError, match=r"^strategy 'short' id 'q0': non-finite score nan$"):
        score_sample(get_scorer("ppl"), lm, candidates, candidates.ids[:4], store)
    assert store.count() == 0
