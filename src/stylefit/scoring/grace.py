"""GRACE: how well the target's gradients on a strategy's responses predict one another, from
cross-validated gradient kernels.

Follows arXiv 2511.02833 and its authors' code (abhishekpanigrahi1996/GRACE,
``gradient_computation.py`` and ``GRACE_computation.py``).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from stylefit.core.errors import StylefitError, TooFewQuestions
from stylefit.core.store import Store, content_key
from stylefit.data.candidates import CandidateSet
from stylefit.models.base import ContinuationRequest, LanguageModel, LocalWeights, Progress
from stylefit.models.prompts import continuation_request, own_template
from stylefit.scoring.base import ExampleScore, Scorer, ScoringItem, register

GRADIENT_KIND = "grace-gradient"


@register
class Grace(Scorer):
    """Per strategy: GRACE = mean over the splits s of tr(Σ̃_train(s)⁺ Σ_test(s)).

    - **Gradients.** Per response, the gradient of the target's mean token NLL of the response
      given the question (in the template the target is fine-tuned in: its chat template, plain text
      for a base model) with respect to the B matrices of a freshly
      initialised LoRA adapter (rank ``lora_rank`` on ``target_modules``, the fine-tuning
      recipe's defaults; the source's LoRA option also keeps only B). B starts at zero, so the
      adapter leaves the forward pass unchanged and dL/dB = (α/r) Σ_t δ_t (A x_t)ᵀ, computed
      here from the layers' inputs x_t and output gradients δ_t without modifying the model.
    - **Projection.** A Rademacher (±1) matrix to ``dim`` dimensions (seed ``seed``), scaled by
      1/√D as in the source.
    - **Statistic.** Each split's training rows are scaled to unit length, test rows are not;
      Σ = XᵀX / rows; Σ_train's eigenvalues w are shrunk to (1 − c)·w + c·mean(w) with
      c = ``smooth`` (1e-3 in the source) before inverting. A split's score is the mean over
      its test responses g of gᵀ Σ̃_train⁻¹ g.
    - **Splits.** The source averages 10 random splits with 10% of the questions held out.
      Here the splits are the ``splits`` folds of one random permutation (seed ``seed``): the
      same expectation, and every question is held out exactly once, so each response gets
      its own value gᵀ Σ̃⁻¹ g (the per-example score) and the paired bootstrap over questions
      applies. The strategy statistic, the mean of those values, is the splits' mean score.
    - **Direction: lower is better** (test gradients the other responses' gradients explain
      well: a stable, learnable set). The source code does not state a direction; this one
      follows the paper's argument from leave-one-out stability.
    - **Cost.** One forward and backward pass per response (no weight gradients: only the
      activations' gradients are needed) plus a ``dim``-sized eigendecomposition per split;
      several times ``ppl``. Gradients are cached per response.
    - Needs a local transformers target.
    """

    name = "grace"
    version = "1"
    unit = "gᵀ Σ̃⁻¹ g"

    def __init__(self, dim: int = 512, splits: int = 10, smooth: float = 1e-3, lora_rank: int = 8, lora_alpha: int = 16,
                 target_modules: tuple[str, ...] | list[str] = ("q_proj", "v_proj"), seed: int = 0, batch_size: int = 4):
        if dim < 1 or splits < 2 or not 0 <= smooth <= 1 or lora_rank < 1 or batch_size < 1:
            raise StylefitError("scorer 'grace': needs dim >= 1, splits >= 2, 0 <= smooth <= 1, lora_rank >= 1, batch_size >= 1")
        self.dim, self.splits, self.smooth = dim, splits, smooth
        self.lora_rank, self.lora_alpha, self.target_modules, self.seed = lora_rank, lora_alpha, tuple(target_modules), seed
        self.batch_size = batch_size  # speed only
        self._values: dict[tuple[str, str], float] = {}  # (strategy, id) -> value, filled by prepare
        self._sample_key: dict[str, str] = {}

    def params(self) -> dict[str, Any]:
        return {"dim": self.dim, "splits": self.splits, "smooth": self.smooth, "lora_rank": self.lora_rank,
                "lora_alpha": self.lora_alpha, "target_modules": list(self.target_modules), "seed": self.seed}

    def _gradient_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.params().items() if k not in ("splits", "smooth")}

    def prepare_units(self, candidates: CandidateSet, ids: list[str]) -> int:
        return len(ids) * len(candidates.strategies)

    def requests(self, lm: LanguageModel, item: ScoringItem) -> list[ContinuationRequest]:
        c = item.candidate
        # the template the target is fine-tuned in (its chat template, plain text for a base model): the
        # gradients are those of its training examples
        return [continuation_request(lm, own_template(lm), c.prompt, c.response, item.label)]

    def cache_parts(self, item: ScoringItem) -> dict[str, Any]:
        # A response's value depends on every response of its strategy in the sample (the folds).
        return {"sample": self._sample_key[item.candidate.strategy]}

    def prepare(self, lm: LanguageModel, candidates: CandidateSet, ids: list[str], store: Store,
                progress: Progress | None = None) -> list[str]:
        if not isinstance(lm, LocalWeights):
            raise StylefitError(f"scorer 'grace' needs a local transformers target; '{lm.name}' is served")
        if len(ids) < self.splits:
            raise TooFewQuestions(f"scorer 'grace': {len(ids)} questions cannot fill {self.splits} splits")
        base = {"kind": GRADIENT_KIND, "model": lm.revision, "template": lm.template_id, "dtype": lm.dtype,
                "version": self.version, "params": self._gradient_params()}
        items = [ScoringItem(candidates.by_strategy[s][qid], candidates.position(qid)) for s in candidates.strategies for qid in ids]
        requests = [self.requests(lm, item)[0] for item in items]
        keys = [content_key(base | {"request": [r.context, r.continuation]}) for r in requests]
        found = store.get_many(keys)
        if progress:
            progress(sum(k in found for k in keys))
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            t = time.perf_counter()  # the projector's set-up is charged to the first batch
            projector = _Projector(lm, self)
            for start in range(0, len(missing), self.batch_size):
                chunk = missing[start : start + self.batch_size]
                vectors = projector.project([requests[i] for i in chunk])
                fresh = {keys[i]: v.tolist() for i, v in zip(chunk, vectors)}
                store.put_many(GRADIENT_KIND, fresh, seconds=time.perf_counter() - t)
                t = time.perf_counter()
                found |= fresh
                if progress:
                    progress(len(chunk))
        self._sample_key, self._values = {}, {}
        for s in candidates.strategies:
            rows = [i for i, item in enumerate(items) if item.candidate.strategy == s]
            gradients = np.array([found[keys[i]] for i in rows], dtype=np.float64)
            self._sample_key[s] = content_key({"ids": ids, "gradients": [keys[i] for i in rows]})
            for qid, value in zip(ids, held_out_values(gradients, self.splits, self.smooth, self.seed)):
                self._values[s, qid] = float(value)
        return []

    def compute(self, lm: LanguageModel, items: list[ScoringItem], requests: list[list[ContinuationRequest]]) -> list[ExampleScore]:
        counts = lm.count_tokens([r[0] for r in requests])
        return [ExampleScore(self._values[item.candidate.strategy, item.candidate.id], None, count.continuation)
                for item, count in zip(items, counts)]


def held_out_values(gradients: np.ndarray, splits: int, smooth: float, seed: int) -> np.ndarray:
    """Per row g: gᵀ Σ̃⁻¹ g, with Σ̃ the smoothed kernel of the (unit-length) rows outside its fold."""
    n, d = gradients.shape
    folds = np.array_split(np.random.default_rng(seed).permutation(n), splits)
    values = np.empty(n)
    norms = np.linalg.norm(gradients, axis=1, keepdims=True)
    if (norms == 0).any():
        raise StylefitError("scorer 'grace': a response has a zero gradient (nothing to learn from it)")
    unit = gradients / norms
    for fold in folds:
        train = np.setdiff1d(np.arange(n), fold)
        kernel = unit[train].T @ unit[train] / len(train)
        w, v = np.linalg.eigh(kernel)
        w = np.clip(w, 1e-12, None)
        w = np.clip((1 - smooth) * w + smooth * w.mean(), 1e-12, None)
        projected = gradients[fold] @ v  # test rows in the kernel's eigenbasis
        values[fold] = (projected**2 / w).sum(axis=1)
    return values


class _Projector:
    """Projected LoRA-B gradients of a local transformers model, one row per request."""

    def __init__(self, lm: LocalWeights, scorer: Grace):
        import torch

        self.lm, self.torch = lm, torch
        self.scale = scorer.lora_alpha / scorer.lora_rank
        self.modules = [(name, m) for name, m in lm.model.named_modules()
                        if name.split(".")[-1] in scorer.target_modules and isinstance(m, torch.nn.Linear)]
        if not self.modules:
            raise StylefitError(f"scorer 'grace': the target has no linear layers named {', '.join(scorer.target_modules)}")
        generator = torch.Generator().manual_seed(scorer.seed)
        # LoRA's A, as PEFT initialises it (Kaiming-uniform, a = √5): uniform in ±1/√in_features
        self.a = [((torch.rand(scorer.lora_rank, m.in_features, generator=generator) * 2 - 1) / math.sqrt(m.in_features))
                  .to(lm.device) for _, m in self.modules]
        total = sum(m.out_features * scorer.lora_rank for _, m in self.modules)
        self.projection = [((torch.randint(0, 2, (m.out_features * scorer.lora_rank, scorer.dim), generator=generator) * 2 - 1)
                            .float() / math.sqrt(total)).to(lm.device) for _, m in self.modules]

    def project(self, requests: list[ContinuationRequest]) -> np.ndarray:
        torch, lm = self.torch, self.lm
        split = [lm.token_ids(r) for r in requests]
        width = max(len(c) + len(x) for c, x in split)
        ids = torch.full((len(split), width), lm.pad_id, dtype=torch.long)
        mask = torch.zeros((len(split), width), dtype=torch.long)
        labels = torch.full((len(split), width), -100, dtype=torch.long)
        for row, (context, continuation) in enumerate(split):
            full = context + continuation
            ids[row, : len(full)] = torch.tensor(full)
            mask[row, : len(full)] = 1
            labels[row, len(context) : len(full)] = torch.tensor(continuation)
        ids, mask, labels = ids.to(lm.device), mask.to(lm.device), labels.to(lm.device)
        inputs, outputs, hooks = {}, {}, []
        for name, module in self.modules:
            def keep(module, args, output, name=name):
                inputs[name], outputs[name] = args[0].detach(), output
            hooks.append(module.register_forward_hook(keep))
        try:
            with torch.enable_grad():
                embeds = lm.model.get_input_embeddings()(ids).detach().requires_grad_(True)
                logits = lm.model(inputs_embeds=embeds, attention_mask=mask).logits.float()
                nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), labels[:, 1:], reduction="none")
                counted = (labels[:, 1:] != -100).float()
                loss = ((nll * counted).sum(1) / counted.sum(1)).sum()  # rows are independent: one backward, per-row gradients
                deltas = torch.autograd.grad(loss, [outputs[name] for name, _ in self.modules])
        finally:
            for hook in hooks:
                hook.remove()
        projected = torch.zeros(len(split), self.projection[0].shape[1], device=lm.device)
        for (name, _), a, p, delta in zip(self.modules, self.a, self.projection, deltas):
            x = inputs[name].float() @ a.T  # (rows, tokens, r)
            grad_b = self.scale * torch.einsum("bto,btr->bor", delta.float(), x)  # dL/dB per row
            projected += grad_b.reshape(len(split), -1) @ p
        return projected.cpu().numpy()
