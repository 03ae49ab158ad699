"""The OpenAI-compatible backend against a real server on loopback: llama.cpp's (llama-cpp-python[server])
serving the bundled SmolLM2 GGUF; faults injected by a small proxy in front of it."""

import http.server
import json
import threading
import time
import urllib.request

import pytest

from stylefit.errors import StylefitError
from stylefit.models import GenerationSpec, load_model
from stylefit.models.llama_server import free_port, start_llama_server
from stylefit.models.openai_lm import OpenAICompatibleLM

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """llama.cpp's OpenAI-compatible server with SmolLM2-135M-Instruct; a missing install is a failure."""
    from stylefit.models.registry import REGISTRY, _gguf_file

    url, proc = start_llama_server(_gguf_file(REGISTRY["smollm2-135m-instruct"]), tmp_path_factory.mktemp("server") / "log",
                                   alias="smollm2")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


class FaultyProxy:
    """Forwards to the server, but answers the first requests with the faults given, in order:
    an HTTP status (500, 429), 'slow' (longer than the client's timeout), or 'truncated' JSON."""

    def __init__(self, upstream: str, faults: list):
        self.upstream, self.faults, self.seen = upstream, list(faults), 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                proxy.seen += 1
                fault = proxy.faults.pop(0) if proxy.faults else None
                if fault == "slow":
                    time.sleep(1.5)
                if isinstance(fault, int):
                    return self._send(fault, b'{"error": "injected"}')
                request = urllib.request.Request(proxy.upstream + self.path.removeprefix("/v1"), data=body,
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=120) as reply:
                    payload = reply.read()
                self._send(200, payload[: len(payload) // 2] if fault == "truncated" else payload)

            def _send(self, status, payload):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout): as a real slow server would see it

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


PROMPTS = ["What is 2 + 3? End with 'Final Answer: N'.", "Name a colour.", "What is 10 - 4?"]


def test_chat_generation_is_real_deterministic_and_concurrent(server):
    lm = OpenAICompatibleLM(server, "smollm2", concurrency=3)
    spec = GenerationSpec(max_new_tokens=24)
    first = lm.generate([lm.render_chat(p) for p in PROMPTS], spec)
    again = lm.generate([lm.render_chat(p) for p in PROMPTS], spec)
    assert [g.text for g in first] == [g.text for g in again]  # greedy
    assert all(g.text.strip() and 0 < g.n_tokens <= 24 and g.finish_reason in ("stop", "length") for g in first)
    assert len({g.text for g in first}) == 3 and lm.server_stats.retries == 0
    assert lm.stats["generated_tokens"] == sum(g.n_tokens for g in first + again)
    raw = OpenAICompatibleLM(server, "smollm2", mode="completions")
    (completion,) = raw.generate(["The capital of France is"], GenerationSpec(max_new_tokens=8))
    assert completion.text.strip() and completion.n_tokens <= 8
    with pytest.raises(StylefitError, match="served for completions: it has no chat template"):
        raw.render_chat("hi")


def test_injected_faults_are_retried_and_counted(server):
    proxy = FaultyProxy(server, [500, 429, "truncated", "slow"])
    try:
        lm = OpenAICompatibleLM(proxy.url, "smollm2", concurrency=1, timeout=1.0, retries=4, backoff=0.01)
        (g,) = lm.generate([PROMPTS[0]], GenerationSpec(max_new_tokens=16))
        reference = OpenAICompatibleLM(server, "smollm2").generate([PROMPTS[0]], GenerationSpec(max_new_tokens=16))[0]
        assert g.text == reference.text  # what finally came through is the real answer
        assert lm.server_stats.retries == 4 and proxy.seen == 5
        assert lm.server_stats.failures == {"HTTP 500": 1, "HTTP 429": 1, "a reply without text": 1, "timed out": 1}
    finally:
        proxy.close()


def test_running_out_of_retries_is_one_line_naming_the_prompt(server):
    proxy = FaultyProxy(server, [503] * 3)
    try:
        lm = OpenAICompatibleLM(proxy.url, "smollm2", retries=2, backoff=0.01)
        with pytest.raises(StylefitError, match=r'HTTP 503 after 3 tries, for prompt "What is 2 \+ 3\?'):
            lm.generate([PROMPTS[0]], GenerationSpec(max_new_tokens=8))
    finally:
        proxy.close()
    dead = OpenAICompatibleLM(f"http://127.0.0.1:{free_port()}/v1", "smollm2", retries=1, backoff=0.01)
    with pytest.raises(StylefitError, match="unreachable .* after 2 tries"):
        dead.generate(["hi"], GenerationSpec(max_new_tokens=4))


def test_a_server_teacher_generates_a_strategy_end_to_end(server, tmp_path):
    from conftest import write_task
    from stylefit.strategies import generate

    root = write_task(tmp_path / "task", n=4)
    recipes = tmp_path / "r.toml"
    recipes.write_text(f'[strategy.served]\ndescription = "SmolLM2 on llama.cpp"\nkind = "teacher"\n'
                       f'teacher = "openai:smollm2@{server}"\nprompt = "{{question}}"\nmax_new_tokens = 32\n'
                       'retries = 1\nfix_final_answer = true\n')
    assert isinstance(load_model(f"openai:smollm2@{server}"), OpenAICompatibleLM)
    store = tmp_path / "c.sqlite"
    result = generate(root, ["served"], out=tmp_path / "out", target="smollm2-135m-instruct", recipes=[recipes], store=store)
    report = result.strategies[0]
    assert report.correct + report.still_wrong == 4 and report.fixed == report.still_wrong
    rows = [json.loads(line) for line in (tmp_path / "out" / "served.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(r["response"].strip() for r in rows)
    again = generate(root, ["served"], out=tmp_path / "again", target="smollm2-135m-instruct", recipes=[recipes], store=store)
    assert again.computed == 0  # cached: the server is not asked again
    with pytest.raises(StylefitError, match="a server model is written openai:<model>@<http"):
        load_model("openai:smollm2")
