"""SPPL: the paper prompt character for character, the authors' exemplar cycling, and the scorer."""

import ast
import math
import re

import pytest

from stylefit.prompts import PAPER_MISTRAL_WRAPPER, PAPER_SYSTEM_WRAPPER, sppl_prompt
from stylefit.scoring.exemplars import exemplar_positions


def prompts_md(paper_bench) -> str:
    return (paper_bench / "PROMPTS.md").read_text(encoding="utf-8")


def test_paper_prompt_matches_the_authors_template_character_for_character(paper_bench):
    text = prompts_md(paper_bench)
    literal = re.search(r"```\n('Question: \{question\}.*?')\n```", text, re.DOTALL).group(1)
    template = ast.literal_eval(literal)  # the k = 3 prompt as a Python string
    question, exemplars = "What is 2 + 3?\nGive the number.", ["ex one\n\nFinal Answer: 1", "ex two", "ex {three}"]
    expected = (
        template.replace("{question}", question)
        .replace("{exemplar_1}", exemplars[0])
        .replace("{exemplar_2}", exemplars[1])
        .replace("{exemplar_3}", exemplars[2])
    )
    assert sppl_prompt(question, exemplars) == expected
    # Other k: the example block repeats k times, nothing else changes.
    one_block = "inference example: {exemplar_1}\n\n"
    k1 = template.replace("inference example: {exemplar_2}\n\ninference example: {exemplar_3}\n\n", "")
    assert one_block in k1
    assert sppl_prompt(question, exemplars[:1]) == k1.replace("{question}", question).replace("{exemplar_1}", exemplars[0])


def concatenation(expression: str) -> str:
    """Evaluate PROMPTS.md's `"a" + prompt + "b"` with prompt standing for "{prompt}"."""
    return "".join("{prompt}" if part == "prompt" else ast.literal_eval(part) for part in expression.split(" + "))


def test_paper_wrappers_match_prompts_md(paper_bench):
    text = prompts_md(paper_bench)
    mistral = re.search(r"- Mistral: `([^`]*)`", text).group(1)
    other = re.search(r"`(\"\[INST\] <<SYS>>[^`]*)`", text).group(1)
    assert PAPER_MISTRAL_WRAPPER == concatenation(mistral)
    assert PAPER_SYSTEM_WRAPPER == concatenation(other)


def authors_counters(n_candidates: int, k: int, n_exemplars: int) -> list[list[int]]:
    """PROMPTS.md's procedure, literally: one counter per slot starting at 0..k-1, each
    incremented before every candidate and reset to 0 when it reaches n - 1."""
    counters, chosen = list(range(k)), []
    for _ in range(n_candidates):
        counters = [c + 1 for c in counters]
        counters = [0 if c == n_exemplars - 1 else c for c in counters]
        chosen.append(list(counters))
    return chosen


@pytest.mark.parametrize("k,n", [(3, 5), (2, 3), (3, 40), (1, 2), (5, 7)])
def test_exemplar_choice_follows_the_authors_counters(k, n):
    assert [exemplar_positions(i, k, n) for i in range(60)] == authors_counters(60, k, n)


def test_sppl_scores_the_response_after_k_exemplars(tiny_lm, tiny_task, store):
    from stylefit.data import load_candidates, load_task
    from stylefit.scoring import ScoringItem, get_scorer, score_sample

    task = load_task(tiny_task)
    # The tiny random model answers nothing right: the paper's fallback to unfiltered answers, reported.
    scorer = get_scorer("sppl", k=2, m=6, max_new_tokens=8)
    candidates = load_candidates(task, tiny_task / "candidates")
    notes = scorer.prepare(tiny_lm, candidates, candidates.ids, store)
    assert scorer.exemplars.answered == 6
    assert any("fell back" in n for n in notes) == (scorer.exemplars.correct == 0)
    (request,) = scorer.requests(tiny_lm, ScoringItem(candidates.candidates("short")[0], 0))
    assert request.context.count("inference example: ") == 2
    assert scorer.exemplars.texts[1] in request.context and scorer.exemplars.texts[2] in request.context
    assert request.context.startswith(tiny_lm.render_chat("x")[:8])  # native variant: the model's template
    sample = score_sample(scorer, tiny_lm, candidates, candidates.ids[:4], store)
    values = sample.by_strategy["short"]
    assert len(values) == 4 and all(v.value > 1 and math.isfinite(v.value) for v in values)
