"""Start llama.cpp's OpenAI-compatible server (llama-cpp-python[server]) on loopback for a GGUF file:
used by the tests of the server backend and by the generation benchmark."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from stylefit.core.errors import StylefitError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_llama_server(gguf: Path, log: Path, *, alias: str = "model", threads: int = 1, n_ctx: int = 2048,
                       timeout: float = 180, reproducible: bool = True) -> tuple[str, subprocess.Popen]:
    """(base URL, process) once ``/v1/models`` answers; the caller terminates the process.

    ``reproducible``: read prompts one token at a time (``n_batch = n_ubatch = 1``). The server keeps
    the previous request's tokens and reads only the part of a new prompt that differs (a prompt
    that follows itself has its last token read again, alone), so with batched reading the same
    token is computed in batches of different sizes depending on the request before; the numbers
    differ in their last bits and a greedy answer can turn on them. Token by token, every token is
    computed the same way whatever came before: one answer per prompt over 1000 requests, against
    3 of 20 prompts with two answers on the stock server, for 20-45 % fewer tokens per second
    (benchmarks/results/served_reproducibility.md)."""
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError as e:
        raise StylefitError(f"llama.cpp's server is not installed ({e}): pip install 'llama-cpp-python[server]'") from None
    # A free port is only free until someone takes it: between free_port() and the server's bind another
    # process may. That, and only that, is tried again on a new port.
    for _ in range(3):
        port = free_port()
        with Path(log).open("w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
                                     "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads),
                                     "--model_alias", alias]
                                    + (["--n_batch", "1", "--n_ubatch", "1"] if reproducible else []),
                                    stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        return url, proc
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                proc.wait()
                text = Path(log).read_text()
                if "address already in use" in text.lower():
                    break  # the port was taken meanwhile: a new one
                raise StylefitError(f"llama.cpp server did not start: {text[-2000:]}")
            time.sleep(0.5)
    raise StylefitError(f"llama.cpp server did not start: three free ports were taken before it could bind them ({log})")
