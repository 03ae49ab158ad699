"""The language-model contract every backend fulfils (after lm-evaluation-harness's tiny API).

Three verbs: log-probabilities of continuations given contexts, generation, and mean-pooled
hidden states; plus tokenization, for measures defined over the model's own tokens. Texts go in already rendered (chat template applied by the caller through
``render_chat``), so a backend knows nothing about strategies or scorers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from stylefit.core.errors import StylefitError

Progress = Callable[[int], None]  # called with the number of newly finished units


@dataclass(frozen=True)
class ContinuationRequest:
    """Score ``continuation`` given ``context``: only continuation tokens count.

    ``special_tokens``: whether the tokenizer adds its special tokens (BOS) to the full text, as
    the paper's code does; chat-template-rendered text already carries them.
    ``label`` names the item in error messages.
    """

    context: str
    continuation: str
    special_tokens: bool = False
    label: str = ""


@dataclass(frozen=True)
class ContinuationScore:
    token_logprobs: tuple[float, ...]  # natural-log probability of each continuation token
    context_tokens: int
    # 1-based rank of each continuation token among the vocabulary (1 = the model's top choice);
    # None where the backend cannot tell (a server that returns only the chosen token's log-probability)
    token_ranks: tuple[int, ...] | None = None

    @property
    def n_tokens(self) -> int:
        return len(self.token_logprobs)

    @property
    def mean_nll(self) -> float:
        return -sum(self.token_logprobs) / len(self.token_logprobs)


@dataclass(frozen=True)
class GenerationSpec:
    """How to generate: greedy when temperature == 0."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()
    stop_regex: str | None = None  # stop once the new text matches, and cut it at the match's end

    def as_key(self) -> dict:
        spec = {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature, "stop": list(self.stop)}
        if self.stop_regex:
            spec["stop_regex"] = self.stop_regex
        if self.temperature > 0:  # the seed and top-p matter only when sampling
            spec |= {"top_p": self.top_p, "seed": self.seed}
        return spec


@dataclass(frozen=True)
class Generation:
    text: str
    n_tokens: int
    finish_reason: str  # "stop" (end-of-turn token or a stop string) or "length" (hit max_new_tokens)


Finished = Callable[[dict[int, Generation]], None]  # finished generations, by their prompt's index


class GenerationError(StylefitError):
    """A prompt's generation failed for good (a server's retries ran out, a prompt too long).

    ``index`` is the prompt's place in the list given to ``generate``; ``reason`` names the model
    and what went wrong but not the prompt, so that a caller can name its item instead.
    """

    def __init__(self, reason: str, index: int, prompt: str):
        super().__init__(f"{reason}, for prompt {prompt[:60]!r}")
        self.reason, self.index, self.prompt = reason, index, prompt


@dataclass
class TokenCount:
    context: int
    continuation: int

    @property
    def total(self) -> int:
        return self.context + self.continuation


class LanguageModel(Protocol):
    name: str
    revision: str  # content hash of the weights: part of every cache key
    template_id: str  # hash of the chat template: part of every cache key
    # Whether generation and hidden states put the tokenizer's BOS before a text that lacks it (a base
    # model's plain prompt): part of generation and score keys where true
    bos_prefix: bool
    dtype: str  # floating-point type of the computation ("float32", "bfloat16"...): part of numeric cache keys
    max_length: int  # context window in tokens
    stats: dict[str, int]  # counters; "generated_tokens" grows as generations finish
    # Whether the same prompt and spec give the same text from a fresh start (no cache), and why or why not:
    # written into the generate manifest. A rerun from stylefit's cache reproduces its files either way.
    reproducible: bool
    reproducible_why: str

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` alone, without special tokens."""

    def render_chat(self, user_prompt: str) -> str:
        """The user turn in the model's own chat template, ready for the assistant's reply."""

    def count_tokens(self, requests: list[ContinuationRequest]) -> list[TokenCount]: ...

    def loglikelihood(
        self, requests: list[ContinuationRequest], progress: Progress | None = None
    ) -> list[ContinuationScore]: ...

    def generate(
        self, prompts: list[str], spec: GenerationSpec, progress: Progress | None = None, seeds: list[int] | None = None,
        batch_size: int = 16, on_done: Finished | None = None,
    ) -> list[Generation]:
        """Batched generation; when sampling, ``seeds`` (one per prompt) make the draws reproducible.

        ``on_done`` is called, from the calling thread, with each group of generations as soon as it
        is finished (a batch locally, one request on a server), so the caller can keep them before
        the rest are done. A prompt that cannot be answered raises ``GenerationError`` with its index.
        """

    def hidden_states(self, texts: list[str]) -> list[np.ndarray]:
        """Per text, an array (layers + 1, hidden) of token-mean-pooled hidden states."""


@runtime_checkable
class LocalWeights(Protocol):
    """What a scorer that needs the weights themselves (gradients: ``grace``) may use of a local model;
    a served model has none of it."""

    model: Any  # the torch module
    device: Any  # where it runs
    pad_id: int  # the token id that fills a batch's short rows

    def token_ids(self, request: ContinuationRequest) -> tuple[list[int], list[int]]:
        """(context, continuation) token ids, tokenized as the model's own log-likelihoods tokenize them."""
