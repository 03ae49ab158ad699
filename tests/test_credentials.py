"""Credentials go only where the user sent them: keys are bound to hosts and never written down.

Checked against real HTTP servers on loopback that record the Authorization header of every request
they receive (no model behind them: answers are made up, in the OpenAI API's shapes)."""

import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading

import pytest

from stylefit.core.errors import StylefitError
from stylefit.models import GenerationSpec, load_model
from stylefit.models.base import ContinuationRequest

OPENAI_KEY = "sk-test-SENTINEL-openai-123"  # $OPENAI_API_KEY
MY_KEY = "sk-test-SENTINEL-mine-456"  # $MY_KEY, the one a spec may name
SENTINEL = b"SENTINEL"  # in both: neither may be written anywhere


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("MY_KEY", MY_KEY)


class RecordingServer:
    """An OpenAI-compatible server on loopback that records each request's Authorization header (None
    when there is none). Chat: the sum a question asks for ("What is 4 + 1?"). Completions: the prompt
    echoed one character per token with log-probabilities, plus one generated token, as llama.cpp does.
    ``echo`` makes it quote the Authorization header it got back: 'error' (an HTTP 401 body, after
    ``pad`` characters), 'tokens' (among the prompt's tokens) or 'answer' (in the chat answer)."""

    def __init__(self, echo: str | None = None, pad: int = 0):
        self.auth: list[str | None] = []
        self.paths: list[str] = []
        server, lock = self, threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                auth = self.headers.get("Authorization")
                with lock:
                    server.auth.append(auth)
                    server.paths.append(self.path)
                if echo == "error":
                    return self._send(401, json.dumps({"error": {"message": "x" * pad + f" rejected Authorization: {auth}"}}))
                chat = self.path.endswith("/chat/completions")
                if chat or not body.get("echo"):  # a generation
                    numbers = re.search(r"(\d+) \+ (\d+)", body["messages"][-1]["content"] if chat else body["prompt"])
                    text = "Adding up.\nFinal Answer: " + (str(int(numbers[1]) + int(numbers[2])) if numbers else "0")
                    if echo == "answer":
                        text = f"You sent {auth}.\n{text}"
                    choice = {"message": {"role": "assistant", "content": text}} if chat else {"text": text}
                    reply = {"choices": [choice | {"finish_reason": "stop"}], "usage": {"completion_tokens": len(text.split())}}
                else:  # scoring: the prompt's log-probabilities
                    tokens = list(body["prompt"]) + ["!"]
                    if echo == "tokens":
                        tokens[-2:-1] = [f" {auth} "]
                    logprobs = [None] + [-1.0] * (len(tokens) - 1)
                    reply = {"choices": [{"text": body["prompt"] + "!", "finish_reason": "length",
                                          "logprobs": {"tokens": tokens, "token_logprobs": logprobs}}]}
                self._send(200, json.dumps(reply))

            def _send(self, status, text):
                payload = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = RecordingServer()
    yield s
    s.close()


def ask(lm, prompt: str = "What is 2 + 3?") -> str:
    return lm.generate([prompt], GenerationSpec(max_new_tokens=16))[0].text


def test_a_server_the_spec_binds_no_key_to_receives_no_authorization_header(server):
    """$OPENAI_API_KEY is for the OpenAI API: a local llama.cpp or vLLM server, or any other host, gets nothing."""
    host = server.url.replace("127.0.0.1", "localhost")
    for spec in (f"openai:m@{server.url}", f"openai:m@{host}", f"openai:m@{server.url}?mode=completions"):
        assert ask(load_model(spec)).endswith("Final Answer: 5")
    assert server.auth == [None, None, None]
    # Only the OpenAI API's own host, over https, gets $OPENAI_API_KEY by default (not sent here: no connection).
    assert load_model("openai:gpt-4o-mini@https://api.openai.com/v1?revision=r")._client.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    for elsewhere in ("https://api.openai.com.example.net/v1", "http://api.openai.com/v1", "https://openai-proxy.example/v1"):
        assert "authorization" not in load_model(f"openai:gpt-4o-mini@{elsewhere}?revision=r")._client.headers, elsewhere


def test_the_key_a_spec_names_reaches_that_server_and_no_other(server):
    other = RecordingServer()
    try:
        bound = load_model(f"openai:m@{server.url}?key_env=MY_KEY")
        unbound = load_model(f"openai:m@{other.url}")
        for lm in (bound, unbound, bound):
            ask(lm)
        scorer = load_model(f"openai:m@{server.url}?mode=completions&key_env=MY_KEY")
        (score,) = scorer.loglikelihood([ContinuationRequest("2 + 3 =", " 5")])
        assert score.token_logprobs == (-1.0, -1.0)
    finally:
        other.close()
    assert server.auth == [f"Bearer {MY_KEY}"] * 3 and server.paths[-1] == "/v1/completions"
    assert other.auth == [None]  # the other server, in the same run, got no key at all
    with pytest.raises(StylefitError) as unset:
        load_model(f"openai:m@{server.url}?key_env=NO_SUCH_KEY_VAR")
    assert str(unset.value) == f"model 'm@{server.url}': key_env=NO_SUCH_KEY_VAR, but $NO_SUCH_KEY_VAR is not set"


def test_a_key_over_plain_http_to_another_host_is_refused_before_any_connection(monkeypatch):
    def connect(*args):
        raise AssertionError("a connection was opened")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", connect)
    remote = "http://10.255.255.1/v1"
    with pytest.raises(StylefitError) as refused:
        load_model(f"openai:m@{remote}?revision=r&key_env=MY_KEY")
    assert str(refused.value) == (f"model 'm@{remote}': key_env=MY_KEY would send the key in the clear over http to another "
                                  "host; use https, or add allow_http_key=true")
    allowed = load_model(f"openai:m@{remote}?revision=r&key_env=MY_KEY&allow_http_key=true")  # the user's explicit word
    assert allowed._client.headers["authorization"] == f"Bearer {MY_KEY}"
    assert load_model("openai:m@https://10.255.255.1/v1?revision=r&key_env=MY_KEY")._client.headers["authorization"] == f"Bearer {MY_KEY}"
    assert "authorization" not in load_model(f"openai:m@{remote}?revision=r")._client.headers  # no key, nothing to refuse
    with pytest.raises(StylefitError, match=r"allow_http_key does nothing without key_env$"):
        load_model(f"openai:m@{remote}?revision=r&allow_http_key=true")
    with pytest.raises(StylefitError, match=r"allow_http_key must be true or false, got 'yes'$"):
        load_model(f"openai:m@{remote}?revision=r&key_env=MY_KEY&allow_http_key=yes")
    from stylefit.models.openai_lm import OpenAICompatibleLM

    with pytest.raises(StylefitError) as in_url:  # a password in the URL would be sent, and written with the model's name
        OpenAICompatibleLM("https://me:hunter2@10.255.255.1/v1", "m", revision="r")
    assert str(in_url.value) == "model 'm': credentials in the server URL are not accepted (name the variable that holds the key with key_env=)"


@pytest.mark.parametrize("pad", [0, 235])  # 235: the 300 characters of server text an error quotes end inside the key
def test_a_server_echoing_the_key_in_an_error_gets_it_into_no_message(pad):
    echo = RecordingServer(echo="error", pad=pad)
    try:
        for spec, call in ((f"openai:m@{echo.url}?key_env=MY_KEY", ask),
                           (f"openai:m@{echo.url}?key_env=MY_KEY&mode=completions",
                            lambda lm: lm.loglikelihood([ContinuationRequest("2 + 3 =", " 5", label="id 'q0'")]))):
            with pytest.raises(StylefitError) as failed:
                call(load_model(spec))
            message = str(failed.value)
            assert "HTTP 401" in message and "\n" not in message
            assert "SENTINEL" not in message and "sk-test" not in message, message
            if not pad:
                assert "rejected Authorization: Bearer [key]" in message
    finally:
        echo.close()
    assert echo.auth == [f"Bearer {MY_KEY}"] * 2  # it was sent the key: what it said back is what is tested


def test_a_server_echoing_the_key_in_its_tokens_or_answer_gets_it_into_no_error_or_text():
    tokens, answer = RecordingServer(echo="tokens"), RecordingServer(echo="answer")
    try:
        scorer = load_model(f"openai:m@{tokens.url}?mode=completions&key_env=MY_KEY")
        with pytest.raises(StylefitError, match=r"^id 'q0': the server's tokens do not end the prompt") as failed:
            scorer.loglikelihood([ContinuationRequest("2 + 3 =", " 5, since two and three make five.", label="id 'q0'")])
        assert "SENTINEL" not in str(failed.value) and "[key]" in str(failed.value)
        text = ask(load_model(f"openai:m@{answer.url}?key_env=MY_KEY"))
    finally:
        tokens.close()
        answer.close()
    assert text == "You sent Bearer [key].\nAdding up.\nFinal Answer: 5"  # cut out before it reaches the cache or a file
    assert tokens.auth == answer.auth == [f"Bearer {MY_KEY}"]


def test_generate_and_select_through_a_server_write_the_key_nowhere(server, tmp_path, tiny_target):
    """The CLI, as a user runs it with a key bound to the server: a teacher generates two strategies, then the
    server's model is scored as the target (ppl, completions mode). No file under the output folder or
    $STYLEFIT_HOME, nor anything printed, holds either key."""
    from conftest import write_task

    task = write_task(tmp_path / "task", n=4)
    teacher = f"openai:m@{server.url}?key_env=MY_KEY"
    recipes = tmp_path / "recipes.toml"
    recipes.write_text("".join(f'[strategy.{name}]\ndescription = "served"\nkind = "teacher"\nteacher = "{teacher}"\n'
                               f'prompt = "{prompt}"\nmax_new_tokens = 32\nretries = 0\n\n'
                               for name, prompt in (("plain", "{question}"), ("careful", "{question} Be careful."))))
    out, home = tmp_path / "out", tmp_path / "home"
    target = f"openai:m@{server.url}?mode=completions&tokenizer={tiny_target}&key_env=MY_KEY"
    env = os.environ | {"STYLEFIT_HOME": str(home), "OPENAI_API_KEY": OPENAI_KEY, "MY_KEY": MY_KEY, "OMP_NUM_THREADS": "1",
                        "COLUMNS": "160"}
    printed = b""
    for args in (["generate", str(task), "-s", "plain", "-s", "careful", "--recipes", str(recipes), "--out", str(out / "candidates")],
                 ["select", str(task), str(out / "candidates"), "--model", target, "--scorer", "ppl", "--n", "4",
                  "--out", str(out / "selection.json"), "--report", str(out / "report")]):
        proc = subprocess.run([sys.executable, "-m", "stylefit", *args], capture_output=True, env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
        printed += proc.stdout + proc.stderr
    assert server.auth == [f"Bearer {MY_KEY}"] * len(server.auth)  # the key was in play, on every request
    assert server.paths.count("/v1/chat/completions") == 8 and server.paths.count("/v1/completions") == 8
    written = [p for p in [*out.rglob("*"), *home.rglob("*")] if p.is_file()]
    names = {p.name for p in written}
    assert {"manifest.json", "selection.json", "cache.sqlite"} <= names and any(n.endswith(".html") for n in names), names
    leaked = [str(p) for p in written if SENTINEL in p.read_bytes()]
    assert not leaked and SENTINEL not in printed, leaked
    assert json.loads((out / "candidates" / "manifest.json").read_text())["strategies"][0]["teacher"] == teacher  # the name, not the value
