"""Start llama.cpp's OpenAI-compatible server (llama-cpp-python[server]) on loopback for a GGUF file:
used by the tests of the server backend and by the generation benchmark."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from stylefit.errors import StylefitError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_llama_server(gguf: Path, log: Path, *, alias: str = "model", threads: int = 1, n_ctx: int = 2048,
                       timeout: float = 180) -> tuple[str, subprocess.Popen]:
    """(base URL, process) once ``/v1/models`` answers; the caller terminates the process."""
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError as e:
        raise StylefitError(f"llama.cpp's server is not installed ({e}): pip install 'llama-cpp-python[server]'") from None
    port = free_port()
    with Path(log).open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
                                 "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads),
                                 "--model_alias", alias], stdout=out, stderr=subprocess.STDOUT)
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
            raise StylefitError(f"llama.cpp server did not start: {Path(log).read_text()[-2000:]}")
        time.sleep(0.5)
