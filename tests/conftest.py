"""Shared fixtures: tiny models built in-process (no download) and small tasks on disk."""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "chain_sum"
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<|user|>", "<|assistant|>"]
VOCAB_SIZE = 128  # the model's vocabulary (the tokenizer uses the first 106 ids)


def char_tokenizer():
    """A character-level tokenizer with a tiny chat template: every character is one token."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIALS + sorted(set(string.printable)))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(SPECIALS)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>")
    fast.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    return fast


def tiny_llama(seed: int = 0, uniform: bool = False):
    """A 2-layer Llama with random weights; ``uniform`` zeroes every weight so that every next-token
    distribution is exactly uniform over VOCAB_SIZE tokens (hand-checkable log-probabilities)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=VOCAB_SIZE, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    if uniform:
        with torch.no_grad():
            for p in model.parameters():
                p.zero_()
    return model.eval()


def make_lm(seed: int = 0, uniform: bool = False, name: str = "tiny"):
    from stylefit.models.registry import ResolvedModel
    from stylefit.models.transformers_lm import TransformersLM

    revision = f"tiny-{'uniform' if uniform else seed}"
    return TransformersLM(ResolvedModel(name, "<in-memory>", revision), model=tiny_llama(seed, uniform), tokenizer=char_tokenizer())


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models train fastest on one thread, and don't fight other jobs for the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_lm():
    return make_lm(seed=0)


@pytest.fixture(scope="session")
def uniform_lm():
    return make_lm(uniform=True)


@pytest.fixture
def store(tmp_path):
    from stylefit.core.store import Store

    s = Store(tmp_path / "cache.sqlite")
    yield s
    s.close()


def write_task(root: Path, n: int = 12, verifier: str | None = "final_answer_number", strategies: dict | None = None) -> Path:
    """A small arithmetic task with three strategies of different style."""
    root.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"q{i}", "question": f"What is {i} + {i % 3}?", "gold": str(i + i % 3)} for i in range(n)]
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {"name": "tiny-sums", "prompt_template": "{question} End with 'Final Answer: N'."}
    if verifier:
        spec["verifier"] = verifier
    (root / "task.json").write_text(json.dumps(spec))
    strategies = strategies or {
        "short": lambda r: f"Final Answer: {r['gold']}",
        "steps": lambda r: f"{r['question'][8:-1]} = {r['gold']}\nFinal Answer: {r['gold']}",
        "wordy": lambda r: f"Let us add the numbers carefully, one at a time. The sum is {r['gold']}.\nFinal Answer: {r['gold']}",
    }
    cdir = root / "candidates"
    cdir.mkdir(exist_ok=True)
    for name, fn in strategies.items():
        (cdir / f"{name}.jsonl").write_text("".join(json.dumps({"id": r["id"], "response": fn(r)}) + "\n" for r in rows))
    return root


@pytest.fixture(scope="session")
def tiny_target(tmp_path_factory) -> str:
    """A tiny random Llama with a chat template, saved like any local Hugging Face folder."""
    folder = tmp_path_factory.mktemp("tiny-target")
    tiny_llama(seed=0).save_pretrained(folder)
    char_tokenizer().save_pretrained(folder)
    return str(folder)


@pytest.fixture
def tiny_task(tmp_path):
    return write_task(tmp_path / "task")


@pytest.fixture(scope="session")
def paper_bench() -> Path:
    """../shared/paper-bench beside the checkout, or $STYLEFIT_PAPER_BENCH; missing = failure, never a skip."""
    import os

    path = Path(os.environ.get("STYLEFIT_PAPER_BENCH") or REPO.parent / "shared" / "paper-bench")
    if not path.is_dir():
        pytest.fail(f"paper-bench bundle not found at {path}: check out ../shared next to the repo or set STYLEFIT_PAPER_BENCH")
    return path


def parrot_llama(answer: str, questions: list[str], steps: int = 60):
    """A tiny Llama taught (in about a second) to answer every such question with ``answer``
    under the chat template: a real model whose outputs a test knows in advance."""
    tokenizer = char_tokenizer()
    torch.manual_seed(0)
    model = tiny_llama(seed=0).train()
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
               for q in questions]
    target = tokenizer(answer + "</s>", add_special_tokens=False).input_ids
    encoded = [tokenizer(p, add_special_tokens=False).input_ids for p in prompts]
    width = max(len(e) for e in encoded) + len(target)
    ids = torch.zeros((len(encoded), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for row, e in enumerate(encoded):
        ids[row, : len(e) + len(target)] = torch.tensor(e + target)
        mask[row, : len(e) + len(target)] = 1
        labels[row, len(e) : len(e) + len(target)] = torch.tensor(target)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(steps):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), tokenizer


TASK_QUESTIONS = [f"What is {i} + {i % 3}? End with 'Final Answer: N'." for i in range(12)]  # write_task's prompts


@pytest.fixture(scope="session")
def parrot_lm():
    """Answers 'Final Answer: 1' to write_task's questions (and to others like them)."""
    from stylefit.models.registry import ResolvedModel
    from stylefit.models.transformers_lm import TransformersLM

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model, tokenizer = parrot_llama("Final Answer: 1", TASK_QUESTIONS)
    torch.set_num_threads(threads)
    return TransformersLM(ResolvedModel("parrot", "<in-memory>", "parrot-1"), model=model, tokenizer=tokenizer)
