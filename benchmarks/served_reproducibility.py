"""Does a served teacher give the same greedy text for the same prompt? What makes it differ?

    python benchmarks/served_reproducibility.py [--rounds 50] [--diagnostic-rounds 10] [--prompts 20]

llama.cpp's OpenAI-compatible server (llama-cpp-python) serves the bundled SmolLM2-135M-Instruct GGUF
on loopback. The same 20 chat prompts (10 short open questions, among them the three of the suite's
server test, and the bundled example's first 10 training questions) are sent greedily, round after round, each condition on a fresh server. A prompt "varies" when its text is
not the same in every round. The conditions separate the candidate causes:

- concurrency: 4 requests at a time (the order the server sees them in changes from round to round)
  against one at a time;
- history: the server keeps the previous request's tokens and re-reads only what differs from it
  (prefix reuse), so the order of requests decides which tokens are read together in one batch;
  one at a time in a shuffled order isolates it;
- the seed: a new request seed per round (greedy decoding should ignore it);
- a server restart: two fresh servers with the same settings.

Results: benchmarks/results/served_reproducibility.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from stylefit.data.jsonl import write_atomic

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "chain_sum"
RESULTS = REPO / "benchmarks" / "results"
# Open prompts leave the model near-ties between tokens, where the last bits of a logit decide.
OPEN_PROMPTS = ["What is 2 + 3? End with 'Final Answer: N'.", "Name a colour.", "What is 10 - 4?",
                "Describe the sea in one sentence.", "Give a name for a cat.", "What is a prime number?",
                "Write a haiku about rain.", "Why is the sky blue?", "Suggest a title for a short story.",
                "What is 7 times 8?"]


def run_condition(gguf: Path, home: Path, prompts: list[str], *, rounds: int, concurrency: int, order: str,
                  seeds: str, reproducible: bool, max_new_tokens: int) -> dict:
    """Start a fresh server, send the prompts ``rounds`` times, and count what varied.

    ``order``: "fixed" (the list as it is), "shuffled" (a new order each round, seeded), or
    "twice" (each prompt twice in a row: the second finds the whole prompt in the server's cache)."""
    from stylefit.models import GenerationSpec
    from stylefit.models.llama_server import start_llama_server
    from stylefit.models.openai_lm import OpenAICompatibleLM

    url, proc = start_llama_server(gguf, home / "server.log", alias="smollm2", reproducible=reproducible)
    answers: list[list[str]] = [[] for _ in prompts]
    rng = random.Random(0)
    try:
        lm = OpenAICompatibleLM(url, "smollm2", concurrency=concurrency)
        start = time.perf_counter()
        tokens = 0
        for r in range(rounds):
            index = list(range(len(prompts)))
            if order == "shuffled":
                rng.shuffle(index)
            elif order == "twice":
                index = [i for i in index for _ in range(2)]
            spec = GenerationSpec(max_new_tokens=max_new_tokens, seed=r if seeds == "per round" else 0)
            out = lm.generate([prompts[i] for i in index], spec)
            tokens += sum(g.n_tokens for g in out)
            for i, g in zip(index, out):
                answers[i].append(g.text)
        seconds = time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    distinct = [len(set(a)) for a in answers]
    return {"rounds": rounds, "requests": sum(map(len, answers)), "answers_per_prompt": len(answers[0]),
            "prompts_varied": sum(d > 1 for d in distinct), "distinct_texts_max": max(distinct),
            "seconds": round(seconds, 1), "tokens_per_s": round(tokens / seconds, 1),
            "first_answers": [a[0] for a in answers], "retries": lm.server_stats.retries}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50, help="rounds for the conditions stylefit promises")
    parser.add_argument("--diagnostic-rounds", type=int, default=10, help="rounds for the stock-server diagnostics")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--render-only", action="store_true", help="rewrite the .md from the committed .json")
    args = parser.parse_args()
    if args.render_only:
        write_atomic(RESULTS / "served_reproducibility.md", render(json.loads((RESULTS / "served_reproducibility.json").read_text())))
        return
    home = Path(tempfile.mkdtemp(prefix="stylefit-bench-"))
    os.environ["STYLEFIT_HOME"] = str(home)
    from stylefit.data import load_task
    from stylefit.models.registry import DEFAULT_MODEL, REGISTRY, _gguf_file

    task = load_task(EXAMPLE)
    prompts = OPEN_PROMPTS + [task.prompt(q) for q in task.train[:10]]
    gguf = _gguf_file(REGISTRY[DEFAULT_MODEL])
    d, n = args.diagnostic_rounds, args.rounds
    conditions = [  # (label, rounds, concurrency, order, seeds, reproducible)
        ("stock server, 4 at a time", d, 4, "fixed", "fixed", False),
        ("stock server, one at a time, each prompt twice in a row", d, 1, "twice", "fixed", False),
        ("stock server, one at a time, shuffled order", d, 1, "shuffled", "fixed", False),
        ("stylefit's server, 4 at a time", n, 4, "fixed", "fixed", True),
        ("stylefit's server, one at a time, each prompt twice in a row", d, 1, "twice", "fixed", True),
        ("stylefit's server, one at a time, shuffled order", d, 1, "shuffled", "fixed", True),
        ("stylefit's server, 4 at a time, a new seed per round", d, 4, "fixed", "per round", True),
        ("stylefit's server again (restarted), 4 at a time", d, 4, "fixed", "fixed", True),
    ]
    rows = {}
    try:
        for label, rounds, concurrency, order, seeds, reproducible in conditions:
            rows[label] = run_condition(gguf, home, prompts, rounds=rounds, concurrency=concurrency, order=order,
                                        seeds=seeds, reproducible=reproducible, max_new_tokens=args.max_new_tokens)
            rows[label] |= {"concurrency": concurrency, "order": order, "seeds": seeds, "reproducible_settings": reproducible}
            print(label, {k: v for k, v in rows[label].items() if k != "first_answers"}, flush=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    ours = [label for label in rows if rows[label]["reproducible_settings"]]
    across = sum(len({rows[label]["first_answers"][i] for label in ours}) > 1 for i in range(len(prompts)))
    figures = {"model": DEFAULT_MODEL, "prompts": len(prompts), "max_new_tokens": args.max_new_tokens,
               "conditions": rows, "prompts_varying_across_stylefit_servers": across}
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_atomic(RESULTS / "served_reproducibility.json", json.dumps(figures, indent=2) + "\n")
    write_atomic(RESULTS / "served_reproducibility.md", render(figures))
    print(render(figures))


def render(figures: dict) -> str:
    rows, n = figures["conditions"], figures["prompts"]
    ours = sum(r["reproducible_settings"] for r in rows.values())
    lines = [f"# Served greedy generation: what reproduces ({n} chat prompts, {figures['model']} Q4_1 GGUF, "
             f"llama.cpp server, up to {figures['max_new_tokens']} new tokens)", "",
             "Produced by `python benchmarks/served_reproducibility.py`; one run, one machine, each condition on a fresh "
             "server (llama-cpp-python's, one thread). A prompt *varied* when its greedy answers were not all identical.", "",
             "- *stock server*: llama-cpp-python's defaults, which read a prompt in batches of up to 512 tokens.",
             "- *stylefit's server*: `--n_batch 1 --n_ubatch 1`, prompts read one token at a time, as "
             "`stylefit.models.llama_server.start_llama_server` starts it for the tests and benchmarks.",
             "- The server keeps the previous request's tokens and reads only the part of a new prompt that differs; when the "
             "whole prompt is the same, it reads its last token again, alone. *each prompt twice in a row* isolates that; "
             "*shuffled order* changes how much of each prompt is shared with the one before.", "",
             "| condition | requests | answers per prompt | prompts that varied | most distinct texts for one prompt | tokens/s |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {label} | {r['requests']} | {r['answers_per_prompt']} | {r['prompts_varied']} of {n} | "
              f"{r['distinct_texts_max']} | {r['tokens_per_s']} |" for label, r in rows.items()]
    lines += ["", f"Across the {ours} fresh servers with stylefit's settings (their first answers compared): "
                  f"{figures['prompts_varying_across_stylefit_servers']} of {n} prompts differ.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
