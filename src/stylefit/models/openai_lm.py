"""A teacher behind an OpenAI-compatible HTTP server: vLLM's, llama.cpp's, or a hosted API.

In ``chat`` mode the server applies the model's chat template, so ``render_chat`` hands the user
prompt through unchanged and ``generate`` sends each prompt as one user message; in
``completions`` mode the prompt is sent as raw text: a base model's plain prompt, or the chat
template applied here from ``tokenizer`` (the served model's Hugging Face tokenizer).

Scoring (``loglikelihood``) needs ``completions`` mode: each (context, continuation) is sent as one
prompt whose log-probabilities the server returns, through ``prompt_logprobs="echo"`` (llama.cpp's
server, and the legacy OpenAI API: ``echo`` + ``logprobs``; no token ranks) or ``"vllm"``
(vLLM's ``prompt_logprobs``, which also gives each token's rank). The continuation's tokens are
found by character offset; a token that straddles the boundary is an error naming the item.
Hidden states are not asked of a server: that call is a clear error.

Keys are bound to hosts, because a spec is the kind of thing people share: ``$OPENAI_API_KEY`` goes
to ``https://api.openai.com`` only; any other server gets a key only from the variable its spec
names (``key_env``), and never over plain http to another host unless ``allow_http_key``. The key is
cut out of every text a server sends back (errors, answers) before it can reach a message or a file.

Requests run concurrently (at most ``concurrency`` at a time); a connection error, a timeout, an
HTTP 429 or 5xx, or a reply without text is retried up to ``retries`` times with exponential
backoff and full jitter. Each answer is handed on (``on_done``) as soon as it arrives. When the
retries run out, the requests not yet sent are dropped, those in flight are awaited, and a
``GenerationError`` gives the prompt's index and what went wrong.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from stylefit.core.errors import StylefitError
from stylefit.models.base import (ContinuationRequest, ContinuationScore, Finished, Generation, GenerationError, GenerationSpec,
                                  Progress, TokenCount)

RETRIED_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
PROMPT_LOGPROBS = ("echo", "vllm")  # how a server returns a prompt's log-probabilities
OPENAI_HOST = "api.openai.com"  # the one host $OPENAI_API_KEY goes to without a key_env
BEARER = re.compile(r"(?i)\bbearer\s+(?!\[key\])[^\s\"',;}\]]+")  # a token a server echoes back, ours ([key]) or not


@dataclass
class ServerStats:
    requests: int = 0
    retries: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # what was retried, by kind

    def failed(self, kind: str) -> None:
        self.retries += 1
        self.failures[kind] = self.failures.get(kind, 0) + 1


def _loopback(url: str) -> bool:
    import ipaddress

    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bound_key(url: str, key_env: str | None, allow_http_key: bool, name: str) -> str | None:
    """The key this server may be sent, or None. Without ``key_env`` only the OpenAI API gets one
    ($OPENAI_API_KEY), so a copied config cannot move a key to a host the user did not name."""
    parts = urlsplit(url)
    if key_env is None:
        if parts.scheme == "https" and parts.hostname == OPENAI_HOST:
            return os.environ.get("OPENAI_API_KEY", "").strip() or None
        return None
    if parts.scheme == "http" and not _loopback(url) and not allow_http_key:
        raise StylefitError(f"model '{name}': key_env={key_env} would send the key in the clear over http to another host; "
                            "use https, or add allow_http_key=true")
    key = os.environ.get(key_env, "").strip()
    if not key:
        raise StylefitError(f"model '{name}': key_env={key_env}, but ${key_env} is not set")
    return key


class OpenAICompatibleLM:
    """Generation through ``{base_url}/chat/completions`` or ``{base_url}/completions``.

    ``revision`` identifies the served weights in cache keys: the model's hash or version. A server
    on another host (a hosted API, a cluster node) can change the weights behind a name, so there it
    is required. On this machine (loopback) it defaults to the served model's name alone, not the
    URL: a server restarted on another port keeps its cache, so weights that differ must be served
    under different names (vLLM's --served-model-name, llama.cpp's --model_alias) or given a
    revision.

    ``reproducible``: whether the server gives the same greedy text for the same request whatever
    else it serves. A server cannot be asked, so this is the user's word, and false by default:
    vLLM and llama.cpp batch concurrent requests and reuse the previous request's prompt, and a
    greedy answer can turn on the last bits that changes. llama.cpp's server reading prompts one
    token at a time (``n_batch`` 1, as ``start_llama_server`` starts it) is reproducible
    (benchmarks/results/served_reproducibility.md); a hosted API promises nothing. Either way a
    rerun from stylefit's cache reproduces the files.

    ``key_env``: the environment variable whose value is sent as the bearer token to this server
    (without it, only ``https://api.openai.com`` is sent one, from $OPENAI_API_KEY);
    ``allow_http_key``: send it over plain http to a host other than this machine.
    """

    def __init__(self, base_url: str, model: str, *, mode: str = "chat", key_env: str | None = None,
                 allow_http_key: bool = False, concurrency: int = 4, timeout: float = 120.0, retries: int = 4,
                 backoff: float = 0.5, revision: str | None = None, seed_requests: bool = True, tokenizer: str | None = None,
                 prompt_logprobs: str = "echo", reproducible: bool = False):
        import httpx

        if mode not in ("chat", "completions"):
            raise StylefitError(f"unknown server mode '{mode}' (known: chat, completions)")
        if prompt_logprobs not in PROMPT_LOGPROBS:
            raise StylefitError(f"unknown prompt_logprobs '{prompt_logprobs}' (known: {', '.join(PROMPT_LOGPROBS)})")
        if concurrency < 1 or retries < 0 or timeout <= 0:
            raise StylefitError("server: need concurrency >= 1, retries >= 0 and timeout > 0")
        self.base_url = base_url.rstrip("/")
        self.model, self.mode = model, mode
        if "@" in urlsplit(self.base_url).netloc:  # a password there would be sent, and written down with the name
            raise StylefitError(f"model '{model}': credentials in the server URL are not accepted "
                                "(name the variable that holds the key with key_env=)")
        self.name = f"{model}@{self.base_url}"
        if allow_http_key and key_env is None:  # an option that does nothing is an error, not ignored
            raise StylefitError(f"model '{self.name}': allow_http_key does nothing without key_env")
        self._key = _bound_key(self.base_url, key_env, allow_http_key, self.name)
        if revision is None and not _loopback(self.base_url):
            raise StylefitError(f"model '{self.name}': a server on another host can change the weights behind a name, so "
                                "its cache entries need a revision: add ?revision=<the model's version or date>")
        self.revision = revision or hashlib.sha256(f"server|{model}".encode()).hexdigest()
        self.prompt_logprobs = prompt_logprobs
        self.reproducible = reproducible
        self.reproducible_why = (
            "declared by the user (reproducible=true): the server gives the same greedy text for a request whatever "
            "else it serves" if reproducible else
            "a server's greedy text can depend on the requests it batches with it or served before it (batching, prompt "
            "reuse); declare reproducible=true only for a server set up for it. A rerun from stylefit's cache gives the "
            "same files")
        self._tokenizer = None
        if tokenizer is not None:  # the chat template, applied here in completions mode
            from transformers import AutoTokenizer

            from stylefit.models.registry import resolve_model

            self._tokenizer = AutoTokenizer.from_pretrained(resolve_model(tokenizer).path)
        template = self._tokenizer.chat_template if self._tokenizer is not None else None
        if mode == "chat":
            self.template_id = f"server-chat:{model}"
        elif template:
            self.template_id = hashlib.sha256(template.encode()).hexdigest()[:16]  # as the local backend keys it
        else:
            self.template_id = "none"
        self.dtype = "server"
        self.bos_prefix = False  # the server adds the model's own special tokens (llama.cpp: the GGUF's add_bos)
        self.max_length = None  # the server enforces its own context; an over-long prompt is its error, reported
        self.concurrency, self.retries, self.backoff, self.seed_requests = concurrency, retries, backoff, seed_requests
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers, limits=httpx.Limits(max_connections=concurrency))
        self.server_stats = ServerStats()
        self.stats = {"generated_tokens": 0}

    # ---- prompts ---------------------------------------------------------------------------
    def render_chat(self, user_prompt: str) -> str:
        if self.mode == "chat":
            return user_prompt  # the server applies the template
        if self._tokenizer is None or not self._tokenizer.chat_template:
            raise StylefitError(f"model '{self.name}' is served for completions with no chat template here "
                                "(pass tokenizer=, the served model's Hugging Face tokenizer)")
        return self._tokenizer.apply_chat_template([{"role": "user", "content": user_prompt}], tokenize=False,
                                                   add_generation_prompt=True)

    def tokenize(self, text: str) -> list[int]:
        if self._tokenizer is None:
            raise StylefitError(f"model '{self.name}': no tokenizer here (pass tokenizer=, the served model's)")
        return self._tokenizer(text, add_special_tokens=False).input_ids

    def count_tokens(self, requests: list[ContinuationRequest]):
        """Token counts from the local copy of the served model's tokenizer (lengths and over-long checks)."""
        counts = []
        for r in requests:
            context = len(self.tokenize(r.context))
            counts.append(TokenCount(context, len(self.tokenize(r.context + r.continuation)) - context))
        return counts

    def loglikelihood(self, requests: list[ContinuationRequest], progress: Progress | None = None) -> list[ContinuationScore]:
        """Each continuation's token log-probabilities given its context, one request per pair,
        ``concurrency`` at a time. A request the server cannot score (too long, no prompt
        log-probabilities) is an error naming the item."""
        if self.mode != "completions":
            raise StylefitError(f"model '{self.name}': scoring through a server needs mode 'completions' "
                                "(the prompt's log-probabilities come from /completions)")

        def one(i: int) -> ContinuationScore:
            r = requests[i]
            text = r.context + r.continuation
            body = {"model": self.model, "prompt": text, "max_tokens": 1, "temperature": 0.0}
            body |= {"echo": True, "logprobs": 1} if self.prompt_logprobs == "echo" else {"prompt_logprobs": 1}
            label = r.label or f"request {i}"
            try:
                data = self._post(f"{self.base_url}/completions", body, lambda reply: reply.json(), "an empty reply")
            except StylefitError as e:  # e.g. HTTP 400 for a prompt longer than the server's context
                raise StylefitError(f"{label}: {e}") from None
            try:
                return self._prompt_scores(data, r, label)
            except StylefitError as e:  # it quotes the server's tokens
                raise StylefitError(self._redact(str(e))) from None
            except (KeyError, IndexError, TypeError) as e:
                raise StylefitError(self._redact(
                    f"{label}: model '{self.name}' returned no prompt log-probabilities ({type(e).__name__}: {e}); "
                    + ("llama.cpp's server keeps them with --logits_all true" if self.prompt_logprobs == "echo"
                       else "vLLM returns them for prompt_logprobs"))) from None

        results: dict[int, ContinuationScore] = {}
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = {pool.submit(one, i): i for i in range(len(requests))}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                if progress:
                    progress(1)
        return [results[i] for i in range(len(requests))]

    def hidden_states(self, texts: list[str]):
        raise StylefitError(f"model '{self.name}': hidden states need the transformers backend (a local model)")

    def _prompt_scores(self, data: dict, r: ContinuationRequest, label: str) -> ContinuationScore:
        """The continuation's (log-probability, rank) per token from a /completions reply.

        Servers report offsets in their detokenized text, where special tokens (the chat template's
        markers) may read as nothing; so the continuation is located from the end of the prompt's
        detokenized text, which must read exactly as the continuation."""
        choice = data["choices"][0]
        text = r.context + r.continuation
        if self.prompt_logprobs == "echo":
            lp = choice["logprobs"]
            spans = list(zip(lp["tokens"], lp["token_logprobs"], [None] * len(lp["tokens"])))
            if not choice["text"].startswith(text):
                raise StylefitError(f"{label}: the server did not echo the prompt")
            generated = len(choice["text"]) - len(text)  # the one generated token's characters, at the end
        else:  # vLLM: one {token id: {logprob, rank, decoded_token}} per prompt token, the first None
            ids = choice.get("prompt_token_ids") or data["prompt_token_ids"]
            spans = []
            for entry, token_id in zip(choice["prompt_logprobs"], ids):
                info = entry[str(token_id)] if entry is not None else {"logprob": None, "rank": None, "decoded_token": ""}
                spans.append((info["decoded_token"], info["logprob"], info["rank"]))
            generated = 0
        detokenized = "".join(token for token, _, _ in spans)
        end = len(detokenized) - generated
        start = end - len(r.continuation)
        if start < 0 or detokenized[start:end] != r.continuation:
            raise StylefitError(f"{label}: the server's tokens do not end the prompt with the continuation as sent "
                                f"({detokenized[max(0, start):end][-60:]!r})")
        logprobs, ranks, offset, context_tokens = [], [], 0, 0
        for token, logprob, rank in spans:
            begin, offset = offset, offset + len(token)
            if begin >= end and token:
                break  # the generated token
            if begin < start < offset:
                raise StylefitError(f"{label}: the server's tokenizer joins the context's last characters and the continuation's "
                                    f"first into one token ({token!r}); the boundary cannot be scored")
            if begin < start or (begin == start and not token):
                context_tokens += 1
                continue
            if logprob is None:
                raise StylefitError(f"{label}: the server gave no log-probability for continuation token {token!r}")
            logprobs.append(float(logprob))
            ranks.append(rank)
        if not logprobs:
            raise StylefitError(f"{label}: no continuation tokens in the server's reply")
        return ContinuationScore(tuple(logprobs), context_tokens,
                                 None if any(x is None for x in ranks) else tuple(int(x) for x in ranks))

    # ---- generation ------------------------------------------------------------------------
    def generate(self, prompts: list[str], spec: GenerationSpec, progress: Progress | None = None,
                 seeds: list[int] | None = None, batch_size: int = 16, on_done: Finished | None = None) -> list[Generation]:
        """One request per prompt, ``concurrency`` at a time; results in the order of the prompts. A server
        cannot stop on ``spec.stop_regex``: its text is cut here at the first match (``n_tokens`` still
        counts what the server generated)."""
        seeds = seeds if seeds is not None else [0] * len(prompts)
        stop = threading.Event()  # set once a prompt fails for good: the prompts not sent yet are dropped

        def one(i: int) -> Generation | None:
            if stop.is_set():
                return None
            try:
                return self._request(prompts[i], spec, seeds[i], i)
            except GenerationError:
                stop.set()
                raise

        results: dict[int, Generation] = {}
        failure: GenerationError | None = None
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = {pool.submit(one, i): i for i in range(len(prompts))}
            try:
                for future in as_completed(futures):  # answers are handed on here, in the calling thread
                    try:
                        generation = future.result()
                    except GenerationError as e:
                        failure = failure or e
                        continue
                    if generation is not None:
                        i = futures[future]
                        results[i] = generation
                        self.stats["generated_tokens"] += generation.n_tokens
                        if on_done:
                            on_done({i: generation})
                        if progress:
                            progress(1)
            finally:
                stop.set()  # however it ends (^C included), nothing more is sent; what is in flight is awaited
        if failure:
            raise failure
        return [results[i] for i in range(len(prompts))]

    def _body(self, prompt: str, spec: GenerationSpec, seed: int) -> dict:
        body = {"model": self.model, "max_tokens": spec.max_new_tokens, "temperature": spec.temperature}
        if spec.temperature > 0:
            body["top_p"] = spec.top_p
        if self.seed_requests:  # servers that honour it (vLLM, llama.cpp) make samples reproducible
            body["seed"] = (seed ^ spec.seed) % (2**31)
        if spec.stop:
            body["stop"] = list(spec.stop)
        if self.mode == "chat":
            body["messages"] = [{"role": "user", "content": prompt}]
        else:
            body["prompt"] = prompt
        return body

    def _request(self, prompt: str, spec: GenerationSpec, seed: int, index: int) -> Generation:
        url = f"{self.base_url}/{'chat/completions' if self.mode == 'chat' else 'completions'}"
        try:
            g = self._post(url, self._body(prompt, spec, seed), self._parse, "a reply without text")
        except StylefitError as e:
            raise GenerationError(str(e), index, prompt) from None
        if spec.stop_regex and (m := re.search(spec.stop_regex, g.text)):
            return Generation(g.text[: m.end()], g.n_tokens, "stop")
        return g

    def _post(self, url: str, body: dict, parse, empty: str):
        """POST with retries (backoff with full jitter) on timeouts, lost connections, 408/429/5xx and
        replies ``parse`` cannot read (it returns None or raises ValueError); other statuses fail at once."""
        import httpx

        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(random.uniform(0, self.backoff * 2 ** (attempt - 1)))  # exponential backoff, full jitter
            self.server_stats.requests += 1
            try:
                reply = self._client.post(url, json=body)
            except httpx.TimeoutException:
                problem = "timed out"
            except httpx.TransportError as e:
                problem = f"unreachable ({type(e).__name__})"
            else:
                if reply.status_code in RETRIED_STATUS:
                    problem = f"HTTP {reply.status_code}"
                elif reply.status_code != 200:  # redacted before the cut: half a key would escape redaction
                    raise StylefitError(f"model '{self.name}': HTTP {reply.status_code} "
                                        f"({' '.join(self._redact(reply.text).split())[:300]})")
                else:
                    try:
                        parsed = parse(reply)
                    except ValueError:
                        parsed = None
                    if parsed is not None:
                        return parsed
                    problem = empty
            self.server_stats.failed(problem.split(" (")[0])
        raise StylefitError(f"model '{self.name}': {problem} after {self.retries + 1} tries")

    def _parse(self, reply) -> Generation | None:
        try:
            data = reply.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] if self.mode == "chat" else choice["text"]
        except (ValueError, KeyError, IndexError, TypeError):
            return None  # a truncated or malformed reply is retried
        if not isinstance(text, str) or not text.strip():
            return None
        usage = data.get("usage") or {}
        reason = "length" if choice.get("finish_reason") == "length" else "stop"
        return Generation(self._without_key(text), int(usage.get("completion_tokens") or 0), reason)

    # ---- what a server sends back --------------------------------------------------------
    def _without_key(self, text: str) -> str:
        """An answer with our key cut out: a server that echoes it must not get it into the cache or a file."""
        return text.replace(self._key, "[key]") if self._key else text

    def _redact(self, text: str) -> str:
        """A server's text on its way into an error: our key and any bearer token cut out."""
        return BEARER.sub("Bearer [redacted]", self._without_key(text))

    def close(self) -> None:
        self._client.close()
