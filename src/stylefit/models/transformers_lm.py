"""The transformers backend of the language-model protocol (CPU or GPU)."""

from __future__ import annotations

import copy
import hashlib
import re
from collections import defaultdict

import numpy as np
import torch

from stylefit.errors import StylefitError
from stylefit.models.base import (
    ContinuationRequest,
    ContinuationScore,
    Generation,
    GenerationSpec,
    Progress,
    TokenCount,
)
from stylefit.models.registry import ResolvedModel

# Tokens per forward pass when scoring: bounds the (tokens x vocabulary) logits tensor.
TOKEN_BUDGET = 2048
# A batch of continuations may hold at most this much padding relative to its real tokens.
MAX_PADDING = 0.25


def _length_batches(continuations: list[list[int]]) -> list[list[int]]:
    """Indices in batches of similar length, longest first: little padding, bounded memory."""
    order = sorted(range(len(continuations)), key=lambda i: -len(continuations[i]))
    batches: list[list[int]] = []
    real = 0
    for i in order:
        length = len(continuations[i])
        if batches:
            width = len(continuations[batches[-1][0]])
            slots = width * (len(batches[-1]) + 1)
            if slots <= TOKEN_BUDGET and slots <= (1 + MAX_PADDING) * (real + length):
                batches[-1].append(i)
                real += length
                continue
        batches.append([i])
        real = length
    return batches


class TransformersLM:
    """A causal LM loaded with transformers; batched, exact, never truncating."""

    def __init__(self, resolved: ResolvedModel, *, device: str = "cpu", dtype: str = "float32", model=None, tokenizer=None):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = resolved.name
        self.revision = resolved.revision
        self.device = torch.device(device)
        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(resolved.path)
        self.model = model or AutoModelForCausalLM.from_pretrained(resolved.path, dtype=getattr(torch, dtype))
        self.model.to(self.device).eval()
        template = self.tokenizer.chat_template or ""
        self.template_id = hashlib.sha256(template.encode()).hexdigest()[:16] if template else "none"
        # The context window bounds every sequence; guessing one would truncate or crash silently later.
        max_length = getattr(self.model.config, "max_position_embeddings", None)
        if not max_length:
            raise StylefitError(f"model '{self.name}': its config gives no max_position_embeddings (context length)")
        self.max_length = int(max_length)
        # Ids that end a generation: EOS plus the end-of-turn token of the chat template, if any.
        self._stop_ids = sorted({i for i in [self.tokenizer.eos_token_id, *self._generation_eos()] if i is not None})
        self._pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self._stop_ids[0]
        self._start_id = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self._stop_ids[0]
        # Work counters for benchmarks: tokens requested vs tokens actually run through the model.
        self.stats = {"requested_tokens": 0, "forward_tokens": 0, "generated_tokens": 0}

    def _generation_eos(self) -> list[int]:
        eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        return [eos] if isinstance(eos, int) else list(eos or [])

    # ---- prompts ---------------------------------------------------------------------------
    def render_chat(self, user_prompt: str) -> str:
        if not self.tokenizer.chat_template:
            raise StylefitError(f"model '{self.name}' has no chat template: use template 'plain' or 'paper'")
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": user_prompt}], tokenize=False, add_generation_prompt=True
        )

    # ---- scoring ---------------------------------------------------------------------------
    def _split(self, request: ContinuationRequest) -> tuple[list[int], list[int]]:
        """Token ids of (context, continuation), exactly as the paper's code masks them: the full
        text is tokenized once, and its first len(tokenize(context)) tokens are context."""
        full = self.tokenizer(request.context + request.continuation, add_special_tokens=request.special_tokens).input_ids
        n_context = len(self.tokenizer(request.context, add_special_tokens=request.special_tokens).input_ids)
        context, continuation = full[:n_context], full[n_context:]
        if not context:  # the first continuation token needs something to be predicted from
            context = [self._start_id]
        if not continuation:
            raise StylefitError(f"{request.label or 'request'}: the continuation has no tokens")
        return context, continuation

    def count_tokens(self, requests: list[ContinuationRequest]) -> list[TokenCount]:
        counts = []
        for r in requests:
            context, continuation = self._split(r)
            counts.append(TokenCount(len(context), len(continuation)))
        return counts

    @torch.inference_mode()
    def loglikelihood(self, requests: list[ContinuationRequest], progress: Progress | None = None) -> list[ContinuationScore]:
        """Exact log-probabilities; requests sharing a context reuse its key/value cache."""
        split = [self._split(r) for r in requests]
        for r, (context, continuation) in zip(requests, split):
            if len(context) + len(continuation) > self.max_length:
                raise StylefitError(
                    f"{r.label or 'request'}: {len(context) + len(continuation)} tokens exceed the context of "
                    f"'{self.name}' ({self.max_length}); nothing is truncated"
                )
        self.stats["requested_tokens"] += sum(len(c) + len(x) for c, x in split)
        groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, (context, _) in enumerate(split):
            groups[tuple(context)].append(i)
        results: list[ContinuationScore | None] = [None] * len(requests)
        for context, members in groups.items():
            continuations = [split[i][1] for i in members]
            for i, logprobs in zip(members, self._score_group(list(context), continuations)):
                results[i] = ContinuationScore(tuple(logprobs), len(context))
            if progress:
                progress(len(members))
        return results  # type: ignore[return-value]

    def _score_group(self, context: list[int], continuations: list[list[int]]) -> list[list[float]]:
        ctx = torch.tensor([context], device=self.device)
        out = self.model(input_ids=ctx, use_cache=True)
        self.stats["forward_tokens"] += len(context)
        first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
        scores: dict[int, list[float]] = {}
        for batch in _length_batches(continuations):
            scores.update(zip(batch, self._score_batch(context, out.cache, first, [continuations[i] for i in batch])))
        return [scores[i] for i in range(len(continuations))]

    def _score_batch(self, context, cache, first, batch: list[list[int]]) -> list[list[float]]:
        n, width = len(batch), max(len(c) for c in batch)
        ids = torch.full((n, width), self._pad_id, dtype=torch.long, device=self.device)
        mask = torch.zeros((n, len(context) + width), dtype=torch.long, device=self.device)
        mask[:, : len(context)] = 1
        for row, cont in enumerate(batch):
            ids[row, : len(cont)] = torch.tensor(cont)
            mask[row, len(context) : len(context) + len(cont)] = 1
        results = [[float(first[c[0]])] for c in batch]
        if width > 1:
            self.stats["forward_tokens"] += n * (width - 1)
            batch_cache = copy.deepcopy(cache)
            batch_cache.batch_repeat_interleave(n)
            # Right padding: positions continue from the context; padded tail positions are ignored.
            positions = torch.arange(len(context), len(context) + width, device=self.device).expand(n, -1)
            logits = self.model(
                input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=positions[:, :-1],
                cache=batch_cache, use_cache=True,
            ).logits.float()
            logprobs = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
            for row, cont in enumerate(batch):
                results[row].extend(logprobs[row, : len(cont) - 1].tolist())
        return results

    # ---- generation ------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, prompts: list[str], spec: GenerationSpec, progress: Progress | None = None,
                 seeds: list[int] | None = None, batch_size: int = 16) -> list[Generation]:
        """Batched generation, stopping at end-of-turn, a stop string or ``spec.stop_regex``.

        A row leaves the batch as soon as it stops, so one long answer does not make the whole
        batch compute to ``max_new_tokens``. When sampling, each row draws from its own RNG seeded
        by its entry of ``seeds`` (default: a hash of its prompt) and ``spec.seed``: a sample does
        not depend on which other prompts share its batch."""
        seeds = seeds if seeds is not None else [int.from_bytes(hashlib.sha256(p.encode()).digest()[:8], "little") for p in prompts]
        encoded = [self.tokenizer(p, add_special_tokens=False).input_ids for p in prompts]
        for p, ids in zip(prompts, encoded):
            if len(ids) + spec.max_new_tokens > self.max_length:
                raise StylefitError(f"prompt of {len(ids)} tokens + {spec.max_new_tokens} new tokens exceed the context of '{self.name}' ({self.max_length}): {p[:60]!r}")
        order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
        results: dict[int, Generation] = {}
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            for i, generation in zip(batch, self._generate_batch([encoded[i] for i in batch], spec, [seeds[i] for i in batch])):
                results[i] = generation
                self.stats["generated_tokens"] += generation.n_tokens
            if progress:
                progress(len(batch))
        return [results[i] for i in range(len(prompts))]

    def _generate_batch(self, encoded: list[list[int]], spec: GenerationSpec, seeds: list[int]) -> list[Generation]:
        n, width = len(encoded), max(len(e) for e in encoded)
        ids = torch.full((n, width), self._pad_id, dtype=torch.long, device=self.device)
        mask = torch.zeros((n, width), dtype=torch.long, device=self.device)
        for row, e in enumerate(encoded):  # left padding keeps every prompt's end aligned
            ids[row, width - len(e) :] = torch.tensor(e)
            mask[row, width - len(e) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        generators = []
        if spec.temperature > 0:
            for seed in seeds:
                generators.append(torch.Generator(device=self.device).manual_seed(hash((seed, spec.seed)) % (2**63)))
        stop_regex = re.compile(spec.stop_regex) if spec.stop_regex else None
        new: list[list[int]] = [[] for _ in range(n)]
        done: list[Generation | None] = [None] * n
        active = list(range(n))  # rows of the original batch still generating
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
        cache, logits, last = out.cache, out.logits[:, -1], positions[:, -1]
        for step in range(spec.max_new_tokens):
            tokens = self._next_tokens(logits.float(), spec, [generators[r] for r in active] if generators else None)
            keep = []
            for k, (row, token) in enumerate(zip(active, tokens.tolist())):
                if token in self._stop_ids:
                    done[row] = self._finished(new[row], "stop")
                    continue
                new[row].append(token)
                text = self.tokenizer.decode(new[row], skip_special_tokens=True)
                hit = min((text.index(s) + len(s) for s in spec.stop if s in text), default=None)
                if hit is None and stop_regex and (m := stop_regex.search(text)):
                    hit = m.end()
                if hit is not None:
                    done[row] = Generation(text[:hit], len(new[row]), "stop")
                elif step == spec.max_new_tokens - 1:
                    done[row] = self._finished(new[row], "length")
                else:
                    keep.append(k)
            if not keep:
                break
            if len(keep) < len(active):  # finished rows leave the batch and its cache
                index = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(index)
                mask, last, tokens = mask[index], last[index], tokens[index]
                active = [active[k] for k in keep]
            mask = torch.cat([mask, torch.ones((len(active), 1), dtype=mask.dtype, device=self.device)], dim=1)
            last = last + 1
            out = self.model(input_ids=tokens[:, None], attention_mask=mask, position_ids=last[:, None], cache=cache, use_cache=True)
            cache, logits = out.cache, out.logits[:, -1]
        return done  # type: ignore[return-value]

    @staticmethod
    def _next_tokens(logits: torch.Tensor, spec: GenerationSpec, generators: list[torch.Generator] | None) -> torch.Tensor:
        """Greedy, or a draw from the temperature-scaled, top-p-truncated distribution (one RNG per row)."""
        if generators is None:
            return logits.argmax(-1)
        probs = torch.softmax(logits / spec.temperature, dim=-1)
        if spec.top_p < 1.0:
            sorted_probs, order = probs.sort(dim=-1, descending=True)
            outside = sorted_probs.cumsum(-1) - sorted_probs > spec.top_p  # keep the smallest set reaching top_p
            sorted_probs[outside] = 0.0
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
        return torch.stack([torch.multinomial(p, 1, generator=g)[0] for p, g in zip(probs, generators)])

    def _finished(self, new_ids: list[int], reason: str) -> Generation:
        return Generation(self.tokenizer.decode(new_ids, skip_special_tokens=True), len(new_ids), reason)

    # ---- representations -------------------------------------------------------------------
    @torch.inference_mode()
    def hidden_states(self, texts: list[str]) -> list[np.ndarray]:
        """Per text, (layers + 1, hidden) states mean-pooled over its tokens; batched with right
        padding, which leaves a causal model's states of the real tokens unchanged."""
        encoded = [self.tokenizer(t, add_special_tokens=False).input_ids for t in texts]
        for text, ids in zip(texts, encoded):
            if not ids:
                raise StylefitError(f"hidden_states: empty text {text!r}")
            if len(ids) > self.max_length:
                raise StylefitError(f"hidden_states: {len(ids)} tokens exceed the context of '{self.name}' ({self.max_length})")
        pooled: dict[int, np.ndarray] = {}
        for batch in _length_batches(encoded):
            width = len(encoded[batch[0]])
            ids = torch.full((len(batch), width), self._pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
                mask[row, : len(encoded[i])] = 1
            states = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device), output_hidden_states=True).hidden_states
            weights = (mask / mask.sum(1, keepdim=True)).to(self.device)[None, :, :, None]  # (1, B, T, 1)
            means = (torch.stack(states).float() * weights).sum(2)  # (layers + 1, B, hidden)
            for row, i in enumerate(batch):
                pooled[i] = means[:, row].cpu().numpy()
        return [pooled[i] for i in range(len(texts))]
