"""The transformers backend of the language-model protocol (CPU or GPU)."""

from __future__ import annotations

import copy
import hashlib
import re
from collections import defaultdict

import numpy as np
import torch

from stylefit.core.errors import StylefitError
from stylefit.models.base import (
    ContinuationRequest,
    ContinuationScore,
    Finished,
    Generation,
    GenerationError,
    GenerationSpec,
    Progress,
    TokenCount,
)
from stylefit.models.device import resolve_device, resolve_dtype
from stylefit.models.registry import ResolvedModel

# Tokens per forward pass (default): bounds activations and the (tokens x vocabulary) logits tensor.
TOKEN_BUDGET = 2048
# A batch of continuations may hold at most this much padding relative to its real tokens.
MAX_PADDING = 0.25


def _length_batches(lengths: list[int], budget: int) -> list[list[int]]:
    """Indices in batches of similar length, longest first, of at most ``budget`` padded tokens
    (a single sequence longer than that is a batch of its own, run in chunks)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    real = 0
    for i in order:
        length = lengths[i]
        if batches:
            width = lengths[batches[-1][0]]
            slots = width * (len(batches[-1]) + 1)
            if slots <= budget and slots <= (1 + MAX_PADDING) * (real + length):
                batches[-1].append(i)
                real += length
                continue
        batches.append([i])
        real = length
    return batches


def _select_rows(cache, index: torch.Tensor):
    """A cache holding ``index``'s rows of ``cache`` (repeats allowed), leaving ``cache`` as it is."""
    out = copy.copy(cache)
    out.layers = [copy.copy(layer) for layer in cache.layers]
    out.reorder_cache(index)  # index_select per layer: new tensors on the copies
    return out


class TransformersLM:
    """A causal LM loaded with transformers; batched, exact, never truncating.

    ``device`` and ``dtype`` may be 'auto' (CUDA and bf16 where available, else CPU and fp32); a
    model passed in is moved to the device and keeps its own dtype. No forward pass runs more than
    ``token_budget`` tokens: longer sequences run in chunks through the key/value cache (exact)."""

    def __init__(self, resolved: ResolvedModel, *, device: str = "auto", dtype: str = "auto", model=None, tokenizer=None,
                 token_budget: int = TOKEN_BUDGET):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if token_budget < 1:
            raise StylefitError(f"token budget must be at least 1, got {token_budget}")
        self.name = resolved.name
        self.revision = resolved.revision
        # Prompts go in fixed blocks, ordered by length, and samples draw from per-prompt seeds.
        self.reproducible = True
        self.reproducible_why = ("local transformers backend: the same request (prompts, settings, seeds) gives the same text "
                                 "on one machine and library versions")
        self.device = torch.device(resolve_device(device))
        self.token_budget = token_budget
        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(resolved.path)
        if model is None:
            torch_dtype = getattr(torch, resolve_dtype(dtype, str(self.device)))
            model = AutoModelForCausalLM.from_pretrained(resolved.path, dtype=torch_dtype)
        self.model = model
        self.model.to(self.device).eval()
        # Log-probabilities and generations depend on it: part of their cache keys.
        self.dtype = str(next(self.model.parameters()).dtype).removeprefix("torch.")
        template = self.tokenizer.chat_template or ""
        self.template_id = hashlib.sha256(template.encode()).hexdigest()[:16] if template else "none"
        # The context window bounds every sequence; guessing one would truncate or crash silently later.
        max_length = getattr(self.model.config, "max_position_embeddings", None)
        if not max_length:
            raise StylefitError(f"model '{self.name}': its config gives no max_position_embeddings (context length)")
        self.max_length = int(max_length)
        # Ids that end a generation: EOS plus the end-of-turn token of the chat template, if any.
        self._stop_ids = sorted({i for i in [self.tokenizer.eos_token_id, *self._generation_eos()] if i is not None})
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self._stop_ids[0]
        self._start_id = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self._stop_ids[0]
        # A tokenizer that puts BOS before any text by itself (Gemma's <bos>) expects it: without it Gemma-3
        # base writes garbage. Generation and hidden states put it there as scoring a plain prompt and
        # llama.cpp's server do; a chat template that already writes it keeps its one.
        bos = self.tokenizer.bos_token_id
        self.bos_prefix = bos is not None and self.tokenizer("", add_special_tokens=True).input_ids[:1] == [bos]
        # The decoder and its head apart, so that scoring projects only the positions it scores.
        self._decoder = self.model.base_model
        self._head = self.model.get_output_embeddings()
        self._softcap = getattr(self.model.config, "final_logit_softcapping", None)  # Gemma's, applied as its forward does
        if self._decoder is self.model or self._head is None:
            raise StylefitError(f"model '{self.name}': a causal LM with a decoder and an output head is expected")
        # Work counters for benchmarks: tokens requested vs tokens actually run through the model.
        # forward_tokens: scoring only; prompts prefilled for generation and hidden-state texts count apart.
        self.stats = {"requested_tokens": 0, "forward_tokens": 0, "generated_tokens": 0, "prefill_tokens": 0, "hidden_state_tokens": 0}

    def _generation_eos(self) -> list[int]:
        eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        return [eos] if isinstance(eos, int) else list(eos or [])

    # ---- prompts ---------------------------------------------------------------------------
    def render_chat(self, user_prompt: str) -> str:
        if not self.tokenizer.chat_template:
            raise StylefitError(f"model '{self.name}' has no chat template (a base model): its prompts cannot be chat-rendered")
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": user_prompt}], tokenize=False, add_generation_prompt=True
        )

    def tokenize(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def _encode(self, text: str) -> tuple[list[int], int]:
        """What the model reads for ``text`` (generation, hidden states), and how many BOS tokens lead it
        that ``text`` itself does not carry (0 or 1)."""
        ids = self.tokenize(text)
        if self.bos_prefix and ids[:1] != [self.tokenizer.bos_token_id]:
            return [self.tokenizer.bos_token_id, *ids], 1
        return ids, 0

    # ---- forward passes ----------------------------------------------------------------------
    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache=None,
                 counter: str = "forward_tokens", body_only: bool = False, **kwargs):
        """Run ids (n, T) after ``cache`` in time chunks of at most token_budget tokens; yields each
        chunk's (start, end, output). ``mask`` (n, cached + T) covers the cache and the ids;
        ``counter`` names the work counter the tokens are added to; ``body_only``: the decoder
        without its language-model head (output.last_hidden_state; see ``_logits``)."""
        n, width = ids.shape
        cached = mask.shape[1] - width
        step = max(1, self.token_budget // n)
        run = self._decoder if body_only else self.model
        for start in range(0, width, step):
            end = min(start + step, width)
            out = run(input_ids=ids[:, start:end], attention_mask=mask[:, : cached + end],
                      position_ids=positions[:, start:end], cache=cache, use_cache=True, **kwargs)
            self.stats[counter] += n * (end - start)
            cache = out.cache
            yield start, end, out

    # ---- scoring ---------------------------------------------------------------------------
    def token_ids(self, request: ContinuationRequest) -> tuple[list[int], list[int]]:
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
            context, continuation = self.token_ids(r)
            counts.append(TokenCount(len(context), len(continuation)))
        return counts

    @torch.inference_mode()
    def loglikelihood(self, requests: list[ContinuationRequest], progress: Progress | None = None) -> list[ContinuationScore]:
        """Exact log-probabilities; requests sharing a context reuse its key/value cache."""
        split = [self.token_ids(r) for r in requests]
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
        contexts = list(groups)
        for batch in _length_batches([len(c) for c in contexts], self.token_budget):
            members = [(row, g, i) for row, g in enumerate(batch) for i in groups[contexts[g]]]
            scored = self._score_contexts([list(contexts[g]) for g in batch], [(row, split[i][1]) for row, _, i in members])
            for (_, g, i), (logprobs, ranks) in zip(members, scored):
                results[i] = ContinuationScore(tuple(logprobs), len(contexts[g]), tuple(ranks))
            if progress:
                progress(len(members))
        return results  # type: ignore[return-value]

    def _score_contexts(self, contexts: list[list[int]], items: list[tuple[int, list[int]]]) -> list[tuple[list[float], list[int]]]:
        """Several contexts in one forward pass (left-padded, so they all end at the last column),
        then every continuation ``items[j] = (context row, tokens)`` after its own context's
        keys and values, in length-bucketed batches. Per item: each token's log-probability and
        rank (1 + how many tokens the model put strictly above it: ties share the better rank)."""
        n, width = len(contexts), max(len(c) for c in contexts)
        ids = torch.full((n, width), self.pad_id, dtype=torch.long, device=self.device)
        mask = torch.zeros((n, width), dtype=torch.long, device=self.device)
        for row, c in enumerate(contexts):
            ids[row, width - len(c) :] = torch.tensor(c)
            mask[row, width - len(c) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        for _, _, out in self._forward(ids, mask, positions, logits_to_keep=1):
            pass  # only the last position's logits are needed: each continuation's first token
        first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)  # (contexts, vocab)
        scores: dict[int, tuple[list[float], list[int]]] = {}
        for batch in _length_batches([len(tokens) for _, tokens in items], self.token_budget):
            rows = [items[j][0] for j in batch]
            scored = self._score_batch(out.cache, mask, first, rows, [items[j][1] for j in batch])
            scores.update(zip(batch, scored))
        return [scores[j] for j in range(len(items))]

    def _score_batch(self, cache, context_mask, first, rows: list[int], batch: list[list[int]]) -> list[tuple[list[float], list[int]]]:
        """Continuations ``batch`` after the cached contexts ``rows`` (one row per continuation)."""
        n, width = len(batch), max(len(c) for c in batch)
        results = []
        for row, c in zip(rows, batch):
            f = first[row]
            results.append(([float(f[c[0]])], [int((f > f[c[0]]).sum()) + 1]))
        if width == 1:
            return results
        index = torch.tensor(rows, device=self.device)
        cached = context_mask.shape[1]
        ids = torch.full((n, width), self.pad_id, dtype=torch.long, device=self.device)
        mask = torch.zeros((n, cached + width - 1), dtype=torch.long, device=self.device)
        mask[:, :cached] = context_mask[index]
        for row, cont in enumerate(batch):
            ids[row, : len(cont)] = torch.tensor(cont)
            mask[row, cached : cached + len(cont) - 1] = 1
        # Right padding: positions continue from each context's end; padded tail positions are ignored.
        positions = context_mask[index].sum(-1, keepdim=True) + torch.arange(width - 1, device=self.device)
        lengths = torch.tensor([len(c) - 1 for c in batch], device=self.device)
        logprobs = torch.zeros((n, width - 1), device=self.device)
        ranks = torch.zeros((n, width - 1), dtype=torch.long, device=self.device)
        for start, end, out in self._forward(ids[:, :-1], mask, positions, _select_rows(cache, index), body_only=True):
            # the head, log-softmax and ranks only where a real token follows: padding is skipped
            scored = torch.arange(start, end, device=self.device)[None] < lengths[:, None]
            logits = self._logits(out.last_hidden_state[scored])
            target = ids[:, start + 1 : end + 1][scored]
            lp = torch.log_softmax(logits.float(), dim=-1)
            true = lp.gather(-1, target[:, None])
            logprobs[:, start:end][scored] = true[:, 0]
            ranks[:, start:end][scored] = (lp > true).sum(-1) + 1
        for row, cont in enumerate(batch):
            results[row][0].extend(logprobs[row, : len(cont) - 1].tolist())
            results[row][1].extend(ranks[row, : len(cont) - 1].tolist())
        return results

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self._head(hidden)
        if self._softcap:
            logits = torch.tanh(logits / self._softcap) * self._softcap
        return logits

    # ---- generation ------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, prompts: list[str], spec: GenerationSpec, progress: Progress | None = None,
                 seeds: list[int] | None = None, batch_size: int = 16, on_done: Finished | None = None) -> list[Generation]:
        """Batched generation, stopping at end-of-turn, a stop string or ``spec.stop_regex``.

        A row leaves the batch as soon as it stops, so one long answer does not make the whole
        batch compute to ``max_new_tokens``. When sampling, each row draws from its own RNG seeded
        by its entry of ``seeds`` (default: a hash of its prompt) and ``spec.seed``: a sample does
        not depend on which other prompts share its batch. Each finished batch goes to ``on_done``."""
        seeds = seeds if seeds is not None else [int.from_bytes(hashlib.sha256(p.encode()).digest()[:8], "little") for p in prompts]
        encoded = [self._encode(p)[0] for p in prompts]
        for i, (p, ids) in enumerate(zip(prompts, encoded)):
            if len(ids) + spec.max_new_tokens > self.max_length:
                raise GenerationError(f"prompt of {len(ids)} tokens + {spec.max_new_tokens} new tokens exceed the context "
                                      f"of '{self.name}' ({self.max_length})", i, p)
        results: dict[int, Generation] = {}
        for batch in self._generation_batches([len(e) for e in encoded], batch_size):
            for i, generation in zip(batch, self._generate_batch([encoded[i] for i in batch], spec, [seeds[i] for i in batch])):
                results[i] = generation
                self.stats["generated_tokens"] += generation.n_tokens
            if on_done:
                on_done({i: results[i] for i in batch})
            if progress:
                progress(len(batch))
        return [results[i] for i in range(len(prompts))]

    def _generation_batches(self, lengths: list[int], batch_size: int) -> list[list[int]]:
        """Prompts by length, batch_size at a time (at most token_budget, so one decoding step stays
        within it); a batch's prompts are prefilled in chunks within the budget."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        size = max(1, min(batch_size, self.token_budget))
        return [order[start : start + size] for start in range(0, len(order), size)]

    def _generate_batch(self, encoded: list[list[int]], spec: GenerationSpec, seeds: list[int]) -> list[Generation]:
        n, width = len(encoded), max(len(e) for e in encoded)
        ids = torch.full((n, width), self.pad_id, dtype=torch.long, device=self.device)
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
        for _, _, out in self._forward(ids, mask, positions, counter="prefill_tokens", logits_to_keep=1):
            pass  # the prompt, in chunks within the token budget; only the last position's logits matter
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
        """Per text, (layers + 1, hidden) states mean-pooled over its tokens (after the BOS its
        tokenizer puts first, which is read but not pooled); batched with right padding, which
        leaves a causal model's states of the real tokens unchanged."""
        encoded, leading = zip(*(self._encode(t) for t in texts)) if texts else ((), ())
        for text, ids, lead in zip(texts, encoded, leading):
            if len(ids) == lead:
                raise StylefitError(f"hidden_states: empty text {text!r}")
            if len(ids) > self.max_length:
                raise StylefitError(f"hidden_states: {len(ids)} tokens exceed the context of '{self.name}' ({self.max_length})")
        pooled: dict[int, np.ndarray] = {}
        for batch in _length_batches([len(e) for e in encoded], self.token_budget):
            width = len(encoded[batch[0]])
            ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long, device=self.device)
            mask = torch.zeros((len(batch), width), dtype=torch.long, device=self.device)
            pooled_mask = torch.zeros_like(mask)
            for row, i in enumerate(batch):
                ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
                mask[row, : len(encoded[i])] = 1
                pooled_mask[row, leading[i] : len(encoded[i])] = 1
            weights = (pooled_mask / pooled_mask.sum(1, keepdim=True))[None, :, :, None]  # (1, B, T, 1)
            positions = torch.arange(width, device=self.device).expand(len(batch), -1)
            means = 0
            for start, end, out in self._forward(ids, mask, positions, counter="hidden_state_tokens", output_hidden_states=True,
                                                 logits_to_keep=1):
                means = means + (torch.stack(out.hidden_states).float() * weights[:, :, start:end]).sum(2)  # (layers + 1, B, hidden)
            for row, i in enumerate(batch):
                pooled[i] = means[:, row].cpu().numpy()
        return [pooled[i] for i in range(len(texts))]
