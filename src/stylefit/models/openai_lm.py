"""A teacher behind an OpenAI-compatible HTTP server: vLLM's, llama.cpp's, or a hosted API.

It fulfils the generation side of the language-model protocol. In ``chat`` mode the server
applies the model's chat template, so ``render_chat`` hands the user prompt through unchanged and
``generate`` sends each prompt as one user message; in ``completions`` mode the prompt is sent as
raw text (a base model: the plain template). Log-probabilities and hidden states are not asked of
a server here: those calls are a clear error.

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
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from stylefit.errors import StylefitError
from stylefit.models.base import ContinuationRequest, Finished, Generation, GenerationError, GenerationSpec, Progress

RETRIED_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


@dataclass
class ServerStats:
    requests: int = 0
    retries: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # what was retried, by kind

    def failed(self, kind: str) -> None:
        self.retries += 1
        self.failures[kind] = self.failures.get(kind, 0) + 1


class OpenAICompatibleLM:
    """Generation through ``{base_url}/chat/completions`` or ``{base_url}/completions``.

    ``revision`` identifies the served weights in cache keys: pass the model's hash or version
    when you know it. By default it is the served model's name alone, not the URL: a server
    restarted on another port or host keeps its cache, so weights that differ must be served
    under different names (vLLM's --served-model-name, llama.cpp's --model_alias) or given a
    revision.
    """

    def __init__(self, base_url: str, model: str, *, mode: str = "chat", api_key_env: str | None = "OPENAI_API_KEY",
                 concurrency: int = 4, timeout: float = 120.0, retries: int = 4, backoff: float = 0.5,
                 revision: str | None = None, seed_requests: bool = True):
        import httpx

        if mode not in ("chat", "completions"):
            raise StylefitError(f"unknown server mode '{mode}' (known: chat, completions)")
        if concurrency < 1 or retries < 0 or timeout <= 0:
            raise StylefitError("server: need concurrency >= 1, retries >= 0 and timeout > 0")
        self.base_url = base_url.rstrip("/")
        self.model, self.mode = model, mode
        self.name = f"{model}@{self.base_url}"
        self.revision = revision or hashlib.sha256(f"server|{model}".encode()).hexdigest()
        self.template_id = f"server-chat:{model}" if mode == "chat" else "none"
        self.dtype = "server"
        self.max_length = None  # the server enforces its own context; an over-long prompt is its error, reported
        self.concurrency, self.retries, self.backoff, self.seed_requests = concurrency, retries, backoff, seed_requests
        key = os.environ.get(api_key_env) if api_key_env else None
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers, limits=httpx.Limits(max_connections=concurrency))
        self.server_stats = ServerStats()
        self.stats = {"generated_tokens": 0}

    # ---- prompts ---------------------------------------------------------------------------
    def render_chat(self, user_prompt: str) -> str:
        if self.mode != "chat":
            raise StylefitError(f"model '{self.name}' is served for completions: it has no chat template here")
        return user_prompt  # the server applies the template

    def tokenize(self, text: str) -> list[int]:
        raise StylefitError(f"model '{self.name}': a server backend does not tokenize here")

    def count_tokens(self, requests: list[ContinuationRequest]):
        raise StylefitError(f"model '{self.name}': scoring needs the transformers backend (a local model)")

    def loglikelihood(self, requests: list[ContinuationRequest], progress: Progress | None = None):
        raise StylefitError(f"model '{self.name}': scoring needs the transformers backend (a local model)")

    def hidden_states(self, texts: list[str]):
        raise StylefitError(f"model '{self.name}': hidden states need the transformers backend (a local model)")

    # ---- generation ------------------------------------------------------------------------
    def generate(self, prompts: list[str], spec: GenerationSpec, progress: Progress | None = None,
                 seeds: list[int] | None = None, batch_size: int = 16, on_done: Finished | None = None) -> list[Generation]:
        """One request per prompt, ``concurrency`` at a time; results in the order of the prompts."""
        if spec.stop_regex:
            raise StylefitError(f"model '{self.name}': a server cannot stop on a regular expression")
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
        import httpx

        url = f"{self.base_url}/{'chat/completions' if self.mode == 'chat' else 'completions'}"
        body = self._body(prompt, spec, seed)
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
                elif reply.status_code != 200:
                    raise GenerationError(f"model '{self.name}': HTTP {reply.status_code} "
                                          f"({' '.join(reply.text.split())[:300]})", index, prompt)
                else:
                    generation = self._parse(reply)
                    if generation is not None:
                        return generation
                    problem = "a reply without text"
            self.server_stats.failed(problem.split(" (")[0])
        raise GenerationError(f"model '{self.name}': {problem} after {self.retries + 1} tries", index, prompt)

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
        return Generation(text, int(usage.get("completion_tokens") or 0), reason)

    def close(self) -> None:
        self._client.close()
