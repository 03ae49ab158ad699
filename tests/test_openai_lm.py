"""The OpenAI-compatible backend against a real server on loopback: llama.cpp's (llama-cpp-python[server])
serving the bundled SmolLM2 GGUF; faults injected by a small proxy in front of it."""

import http.server
import json
import re
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from stylefit.core.errors import StylefitError
from stylefit.core.store import Store
from stylefit.models import GenerationSpec, load_model
from stylefit.models.llama_server import free_port, start_llama_server
from stylefit.models.openai_lm import OpenAICompatibleLM

pytestmark = pytest.mark.integration


def start_smollm2(log):
    """llama.cpp's OpenAI-compatible server with SmolLM2-135M-Instruct; a missing install is a failure."""
    from stylefit.models.registry import REGISTRY, _gguf_file

    return start_llama_server(_gguf_file(REGISTRY["smollm2-135m-instruct"]), log, alias="smollm2")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    url, proc = start_smollm2(tmp_path_factory.mktemp("server") / "log")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_local_options_for_a_served_model_are_an_error_not_ignored():
    with pytest.raises(StylefitError, match=r"model 'openai:m@http://127.0.0.1:9/v1': dtype=float32, token_budget=512 does "
                                            r"nothing for a served model"):
        load_model("openai:m@http://127.0.0.1:9/v1", dtype="float32", token_budget=512)
    assert load_model("openai:m@http://127.0.0.1:9/v1").model == "m"  # nothing asked: nothing to refuse


def test_a_server_on_another_host_must_name_its_revision():
    """A hosted model can change behind its name; its cache entries would then be stale."""
    with pytest.raises(StylefitError, match=r"model 'gpt-4o-mini@https://api.openai.com/v1': a server on another host can "
                                            r"change the weights behind a name.*\?revision="):
        load_model("openai:gpt-4o-mini@https://api.openai.com/v1")
    pinned = load_model("openai:gpt-4o-mini@https://api.openai.com/v1?revision=2024-07-18")
    assert pinned.revision == "2024-07-18"
    assert load_model("openai:m@http://localhost:9/v1").revision == load_model("openai:m@http://127.0.0.1:8/v1").revision


def test_a_port_taken_before_the_server_binds_it_is_given_up_for_another(tmp_path, monkeypatch):
    """free_port() cannot hold its port until the server binds it; a port taken meanwhile costs a new one, not a failure."""
    import socket

    import stylefit.models.llama_server as llama_server

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        handed = iter([port])
        monkeypatch.setattr(llama_server, "free_port", lambda: next(handed, None) or free_port())
        url, proc = start_smollm2(tmp_path / "log")
        try:
            assert f":{port}/" not in url
            with urllib.request.urlopen(f"{url}/models", timeout=10) as reply:
                assert json.load(reply)["data"][0]["id"] == "smollm2"
        finally:
            proc.terminate()
            proc.wait(timeout=30)


class FaultyProxy:
    """Forwards to the server, but answers the first requests with the faults given, in order:
    an HTTP status (500, 429), 'slow' (an error only after ``delay`` seconds, longer than the
    client's timeout), 'truncated' JSON, or 'no_logprobs' (the reply as a server that keeps no
    prompt log-probabilities sends it). With ``drift``, every chat answer ends with the request's
    number: a server whose greedy text is never the same twice."""

    def __init__(self, upstream: str, faults: list, delay: float = 1.5, drift: bool = False):
        self.upstream, self.faults, self.seen, self.delay, self.drift = upstream, list(faults), 0, delay, drift
        proxy, lock = self, threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    proxy.seen += 1
                    seen = proxy.seen
                    fault = proxy.faults.pop(0) if proxy.faults else None
                if fault == "slow":
                    time.sleep(proxy.delay)
                    return self._send(504, b'{"error": "too late"}')
                if isinstance(fault, int):
                    return self._send(fault, b'{"error": "injected"}')
                request = urllib.request.Request(proxy.upstream + self.path.removeprefix("/v1"), data=body,
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=120) as reply:
                    payload = reply.read()
                if fault == "no_logprobs":
                    data = json.loads(payload)
                    data["choices"][0]["logprobs"] = None
                    payload = json.dumps(data).encode()
                if proxy.drift:
                    data = json.loads(payload)
                    data["choices"][0]["message"]["content"] += f" ({seen})"
                    payload = json.dumps(data).encode()
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
    """Greedy text must not depend on the order or the concurrency of requests. On a stock llama.cpp
    server it does: the server re-reads only the part of a prompt that differs from the previous
    request, so request order changes which tokens are computed together (measured:
    benchmarks/results/served_reproducibility.md; '10 - 4' had two answers here in 2 of 6 runs).
    The server started here reads prompts token by token, which removes that."""
    lm = OpenAICompatibleLM(server, "smollm2", concurrency=3)
    spec = GenerationSpec(max_new_tokens=24)
    first = lm.generate([lm.render_chat(p) for p in PROMPTS], spec)
    again = lm.generate([lm.render_chat(p) for p in PROMPTS], spec)
    assert [g.text for g in first] == [g.text for g in again]  # greedy, 3 at a time in whatever order they arrive
    one_by_one = OpenAICompatibleLM(server, "smollm2", concurrency=1)
    backwards = one_by_one.generate([lm.render_chat(p) for p in reversed(PROMPTS)], spec)[::-1]
    assert [g.text for g in backwards] == [g.text for g in first]  # each prompt after a different one than before
    repeated = one_by_one.generate([lm.render_chat(p) for p in PROMPTS for _ in range(2)], spec)
    assert [g.text for g in repeated] == [g.text for g in first for _ in range(2)]  # a prompt right after itself
    assert all(g.text.strip() and 0 < g.n_tokens <= 24 and g.finish_reason in ("stop", "length") for g in first)
    assert len({g.text for g in first}) == 3 and lm.server_stats.retries == 0
    assert lm.stats["generated_tokens"] == sum(g.n_tokens for g in first + again)
    raw = OpenAICompatibleLM(server, "smollm2", mode="completions")
    (completion,) = raw.generate(["The capital of France is"], GenerationSpec(max_new_tokens=8))
    assert completion.text.strip() and completion.n_tokens <= 8
    # a server cannot stop on a regular expression: the text is cut here at its first match
    (cut,) = raw.generate(["The capital of France is"], GenerationSpec(max_new_tokens=8, stop_regex=r"\S+"))
    assert cut.finish_reason == "stop" and cut.text.split() == completion.text.split()[:1] and completion.text.startswith(cut.text)
    with pytest.raises(StylefitError, match="served for completions with no chat template here"):
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


def test_a_rerun_from_the_cache_reproduces_the_files_even_where_the_server_does_not(server, tmp_path):
    """What stylefit promises for any server: the cache, not the server, makes a rerun give the same files;
    and the manifest says whether generating again without the cache would."""
    from conftest import write_task
    from stylefit.strategies import generate

    root = write_task(tmp_path / "task", n=4)
    proxy = FaultyProxy(server, [], drift=True)
    try:
        recipes = served(tmp_path, proxy.url)
        runs = {name: generate(root, ["served"], out=tmp_path / name, recipes=[recipes], store=tmp_path / cache)
                for name, cache in (("first", "a.sqlite"), ("rerun", "a.sqlite"), ("fresh", "b.sqlite"))}
    finally:
        proxy.close()
    assert [runs[name].computed for name in ("first", "rerun", "fresh")] == [4, 0, 4] and proxy.seen == 8
    written = {name: (tmp_path / name / "served.jsonl").read_bytes() for name in runs}
    assert written["rerun"] == written["first"]  # from the cache: identical bytes
    assert written["fresh"] != written["first"]  # the server alone would not have given them
    report = runs["first"].strategies[0]
    manifest = json.loads((tmp_path / "first" / "manifest.json").read_text())["strategies"][0]
    assert report.reproducible is False and manifest["reproducible"] is False
    assert manifest["reproducible_why"].startswith(f"smollm2@{proxy.url}: a server's greedy text can depend on the requests")
    declared = load_model(f"openai:smollm2@{server}?reproducible=true")
    assert declared.reproducible and declared.reproducible_why.startswith("declared by the user")
    assert load_model("smollm2-135m-instruct").reproducible
    with pytest.raises(StylefitError, match="reproducible must be true or false, got 'yes'"):
        load_model(f"openai:smollm2@{server}?reproducible=yes")


# ---- a server teacher under `generate`: faults, a kill mid-run, a resumed run ----------------------

def served(tmp_path, url: str, prompt: str = "{question}", max_new_tokens: int = 32):
    """A recipe file with one strategy 'served': the server's SmolLM2, greedy, no retry of wrong or cut answers."""
    path = tmp_path / f"served-{url.split(':')[-1].split('/')[0]}.toml"
    path.write_text(f'[strategy.served]\ndescription = "SmolLM2 on llama.cpp"\nkind = "teacher"\n'
                    f'teacher = "openai:smollm2@{url}"\nprompt = "{prompt}"\nmax_new_tokens = {max_new_tokens}\n'
                    'retries = 0\nlength_retries = 0\nfix_final_answer = true\n')
    return path


def quick_teacher(loaded: list, **options):
    """load_model for generate: the server teacher with quick retries; every model loaded is kept in ``loaded``."""
    def load(name):
        model, _, url = name.removeprefix("openai:").rpartition("@")
        loaded.append(OpenAICompatibleLM(url, model, backoff=0.01, **options))
        return loaded[-1]
    return load


def read_rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_slow_server_is_waited_out_at_the_generate_level(server, tmp_path):
    from conftest import write_task
    from stylefit.strategies import generate

    root = write_task(tmp_path / "task", n=4)
    clean = generate(root, ["served"], out=tmp_path / "clean", recipes=[served(tmp_path, server)], store=tmp_path / "a.sqlite",
                     load_model=quick_teacher([], concurrency=2))
    proxy = FaultyProxy(server, ["slow"] * 4, delay=2.5)
    try:
        loaded = []
        result = generate(root, ["served"], out=tmp_path / "out", recipes=[served(tmp_path, proxy.url)], store=tmp_path / "b.sqlite",
                          load_model=quick_teacher(loaded, concurrency=2, timeout=2.0, retries=2))
    finally:
        proxy.close()
    (lm,) = loaded
    assert lm.server_stats.failures == {"timed out": 4} and proxy.seen == 8  # both first and second tries timed out
    assert result.computed == clean.computed == 4
    assert read_rows(tmp_path / "out" / "served.jsonl") == read_rows(tmp_path / "clean" / "served.jsonl")


def test_a_server_that_always_fails_stops_the_run_with_one_line_naming_the_item(server, tmp_path):
    from conftest import write_task
    from stylefit.strategies import generate

    root = write_task(tmp_path / "task", n=4)
    proxy = FaultyProxy(server, [500] * 1000)
    try:
        recipes = served(tmp_path, proxy.url)
        with pytest.raises(StylefitError) as failed:
            generate(root, ["served"], out=tmp_path / "out", recipes=[recipes], store=tmp_path / "c.sqlite",
                     load_model=quick_teacher([], concurrency=1, retries=2))
        assert str(failed.value) == f"strategy 'served' id 'q0': model 'smollm2@{proxy.url}': HTTP 500 after 3 tries"
        assert proxy.seen == 3  # the run stopped: the other questions were never sent
        assert not (tmp_path / "out" / "served.jsonl").exists()
        # The CLI (default 5 tries, 4 at a time): exit 2 and one line naming the strategy and a question.
        cli = subprocess.run([sys.executable, "-m", "stylefit", "generate", str(root), "-s", "served", "--recipes", str(recipes),
                              "--out", str(tmp_path / "cli"), "--cache", str(tmp_path / "c.sqlite")],
                             capture_output=True, text=True, timeout=300)
    finally:
        proxy.close()
    assert cli.returncode == 2, cli.stderr[-2000:]
    error = [line for line in cli.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and re.fullmatch(rf"error: strategy 'served' id 'q[0-3]': model 'smollm2@{re.escape(proxy.url)}': "
                                            r"HTTP 500 after 5 tries", error[0]), cli.stderr[-2000:]


def test_a_server_killed_mid_run_keeps_what_it_generated_and_a_rerun_on_a_new_port_completes_it(tmp_path):
    """12 questions, 2 requests at a time: the server is killed once 3 answers are in the cache. The run
    stops with one line naming the strategy and a question; what was generated stays cached; a server
    restarted on another port (the cache key is the served model's name, not its URL) computes only the
    rest, and the output is that of an uninterrupted run (greedy decoding on llama.cpp's server as started
    here, reading prompts token by token, is the same across request orders, concurrency and restarts:
    benchmarks/results/served_reproducibility.md)."""
    from conftest import write_task
    from stylefit.strategies import generate

    root = write_task(tmp_path / "task", n=12)
    prompt = "{question} Explain step by step."  # answers long enough (~0.5 s each) to kill the server between them
    url, proc = start_smollm2(tmp_path / "first.log")
    try:
        clean = generate(root, ["served"], out=tmp_path / "clean", recipes=[served(tmp_path, url, prompt, 48)],
                         store=tmp_path / "clean.sqlite", load_model=quick_teacher([], concurrency=2))
        assert clean.computed == 12
        cache = tmp_path / "resume.sqlite"
        watcher, outcome = Store(cache), {}

        def run():
            try:
                generate(root, ["served"], out=tmp_path / "out", recipes=[served(tmp_path, url, prompt, 48)], store=cache,
                         load_model=quick_teacher([], concurrency=2, retries=2))
            except StylefitError as e:
                outcome["error"] = str(e)

        thread = threading.Thread(target=run)
        thread.start()
        while watcher.count("generation") < 3 and thread.is_alive():
            time.sleep(0.02)
        proc.kill()
        thread.join(timeout=120)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert not thread.is_alive()
    assert re.fullmatch(rf"strategy 'served' id 'q\d+': model 'smollm2@{re.escape(url)}': unreachable \(\w+\) after 3 tries",
                        outcome.get("error", "")), outcome
    kept = watcher.count("generation")
    assert 3 <= kept < 12 and not (tmp_path / "out" / "served.jsonl").exists()

    url2, proc = start_smollm2(tmp_path / "second.log")
    try:
        assert url2 != url
        loaded = []
        again = generate(root, ["served"], out=tmp_path / "out", recipes=[served(tmp_path, url2, prompt, 48)], store=cache,
                         load_model=quick_teacher(loaded, concurrency=2))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert again.computed == 12 - kept and loaded[0].server_stats.requests == 12 - kept
    assert watcher.count("generation") == 12
    rows = read_rows(tmp_path / "out" / "served.jsonl")
    assert [r["id"] for r in rows] == [f"q{i}" for i in range(12)]
    assert rows == read_rows(tmp_path / "clean" / "served.jsonl")
    watcher.close()


SCORED = [("What is 2 + 3?", "2 + 3 = 5\nFinal Answer: 5"),
          ("Name the capital of France.", "The capital of France is Paris.\nFinal Answer: Paris"),
          ("Calculate 7 - 9 + 4.", "7 - 9 = -2\n-2 + 4 = 2\nFinal Answer: 2")]
# llama.cpp runs the GGUF's quantized weights with its own kernels; the local backend runs the same
# weights dequantized to fp32. Measured on these 47 tokens: |Δ log p| 0.065 nats per token on
# average (largest 0.39), per-request mean NLL within 0.058. The bounds leave about 2.5x room.
MEAN_ABS_TOL, REQUEST_NLL_TOL = 0.15, 0.15


def test_server_log_probabilities_match_the_local_backend_on_the_same_weights(server):
    local = load_model("smollm2-135m-instruct")
    served = OpenAICompatibleLM(server, "smollm2", mode="completions", tokenizer="smollm2-135m-instruct")
    assert served.template_id == local.template_id and served.render_chat("hi") == local.render_chat("hi")
    from stylefit.models.base import ContinuationRequest

    requests = [ContinuationRequest(local.render_chat(q), a, label=f"id 'q{i}'") for i, (q, a) in enumerate(SCORED)]
    mine, theirs = local.loglikelihood(requests), served.loglikelihood(requests)
    diffs = []
    for a, b in zip(mine, theirs):
        assert a.n_tokens == b.n_tokens  # the same continuation tokens
        diffs += [abs(x - y) for x, y in zip(a.token_logprobs, b.token_logprobs)]
        assert abs(a.mean_nll - b.mean_nll) < REQUEST_NLL_TOL, (a.mean_nll, b.mean_nll)
    assert sum(diffs) / len(diffs) < MEAN_ABS_TOL, f"mean |Δ log p| = {sum(diffs) / len(diffs):.4f}, max {max(diffs):.4f}"
    assert all(b.token_ranks is None for b in theirs)  # llama.cpp's echo gives no ranks: rsr says so
    # scored through select like a local target: ppl ranks the same way on the same weights
    from stylefit.scoring import ScoringItem, get_scorer
    from stylefit.data.candidates import Candidate

    item = ScoringItem(Candidate("q0", "s", *SCORED[0]), 0)
    rsr = get_scorer("rsr")
    with pytest.raises(StylefitError, match="no token ranks"):
        rsr.combine(item, served.loglikelihood(rsr.requests(served, item)))


def test_a_request_the_server_cannot_score_is_an_error_naming_the_item(server):
    from stylefit.models.base import ContinuationRequest

    served = OpenAICompatibleLM(server, "smollm2", mode="completions", tokenizer="smollm2-135m-instruct", retries=0)
    too_long = ContinuationRequest("word " * 3000, "Final Answer: 1", label="strategy 's' id 'q7'")
    with pytest.raises(StylefitError, match=r"^strategy 's' id 'q7': model 'smollm2@.*': HTTP 400"):
        served.loglikelihood([too_long])
    chat = OpenAICompatibleLM(server, "smollm2", mode="chat")
    with pytest.raises(StylefitError, match="needs mode 'completions'"):
        chat.loglikelihood([ContinuationRequest("a", "b")])
    with pytest.raises(StylefitError, match="hidden states need the transformers backend"):
        chat.hidden_states(["a"])
    proxy = FaultyProxy(server, ["no_logprobs"])
    try:
        bare = OpenAICompatibleLM(proxy.url, "smollm2", mode="completions", tokenizer="smollm2-135m-instruct", retries=0)
        with pytest.raises(StylefitError, match=r"^strategy 's' id 'q8': model 'smollm2@.*' returned no prompt log-probabilities"):
            bare.loglikelihood([ContinuationRequest(bare.render_chat("What is 1 + 1?"), "Final Answer: 2",
                                                    label="strategy 's' id 'q8'")])
    finally:
        proxy.close()


def test_select_scores_a_served_target_as_it_scores_the_local_one(server, tmp_path):
    """The path a user takes to score a large target on a vLLM or llama.cpp server: the same ranking inputs."""
    from stylefit import select

    example = "examples/chain_sum"
    served = f"openai:smollm2@{server}?mode=completions&tokenizer=smollm2-135m-instruct"
    remote = select(example, f"{example}/candidates", target=served, scorer="ppl", n=2, store=tmp_path / "a.sqlite")
    local = select(example, f"{example}/candidates", target="smollm2-135m-instruct", scorer="ppl", n=2, store=tmp_path / "b.sqlite")
    assert remote.revision != local.revision  # different weights' identities: never one cache entry
    for strategy, values in local.per_example.items():
        for mine, theirs in zip(values["nll"], remote.per_example[strategy]["nll"]):
            assert abs(mine - theirs) < REQUEST_NLL_TOL
