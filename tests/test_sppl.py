"""SPPL: the paper prompt character for character, the authors' exemplar cycling, and the scorer."""

import ast
import math
import re

import pytest

from stylefit.models.prompts import PAPER_MISTRAL_WRAPPER, PAPER_SYSTEM_WRAPPER, sppl_prompt
from stylefit.scoring import ScoringItem
from stylefit.scoring.sppl import exemplar_positions


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
    scorer = get_scorer("sppl", k=2, m=6, max_new_tokens=8)
    candidates = load_candidates(task, tiny_task / "candidates")
    scorer.prepare(tiny_lm, candidates, candidates.ids, store)
    assert scorer.exemplars.answered == 6
    (request,) = scorer.requests(tiny_lm, ScoringItem(candidates.candidates("short")[0], 0))
    assert request.context.count("inference example: ") == 2
    assert scorer.exemplars.texts[1] in request.context and scorer.exemplars.texts[2] in request.context
    assert request.context.startswith(tiny_lm.render_chat("x")[:8])  # native variant: the model's template
    sample = score_sample(scorer, tiny_lm, candidates, candidates.ids[:4], store)
    values = sample.by_strategy["short"]
    assert len(values) == 4 and all(v.value > 1 and math.isfinite(v.value) for v in values)


# ---- which answers become exemplars, and which exemplars a question sees --------------------

def gold_task(root, golds):
    """write_task's questions with the given gold answers."""
    import json

    from conftest import write_task

    write_task(root, n=len(golds))
    rows = [json.loads(line) for line in (root / "train.jsonl").read_text().splitlines()]
    (root / "train.jsonl").write_text("".join(json.dumps(r | {"gold": g}) + "\n" for r, g in zip(rows, golds)))
    return root


def prepared(lm, root, store, ids=None, **params):
    from stylefit.data import load_candidates, load_task
    from stylefit.scoring import get_scorer

    candidates = load_candidates(load_task(root), root / "candidates")
    scorer = get_scorer("sppl", max_new_tokens=16, **params)
    notes = scorer.prepare(lm, candidates, ids or candidates.ids, store)
    return scorer, candidates, notes


def test_only_correct_answers_become_exemplars(parrot_lm, tmp_path, store):
    # The parrot answers "Final Answer: 1" to everything: right exactly where the gold is 1.
    root = gold_task(tmp_path / "t", ["1", "2", "3", "1", "5", "1", "7", "8", "1", "9", "1", "4"])
    scorer, _, notes = prepared(parrot_lm, root, store, k=2, m=12)
    assert scorer.exemplars.filtered and scorer.exemplars.correct == 5
    assert scorer.exemplars.question_ids == ["q0", "q3", "q5", "q8", "q10"]
    assert scorer.exemplars.texts == ["Final Answer: 1\n\nFinal Answer: 1"] * 5
    assert any("5/12 zero-shot answers correct" in n for n in notes) and not any("fell back" in n for n in notes)


def test_with_no_correct_answer_every_answer_is_an_exemplar_and_the_fallback_is_reported(parrot_lm, tmp_path, store):
    root = gold_task(tmp_path / "t", [str(i + 2) for i in range(12)])  # the parrot never says 1 where it is right
    scorer, _, notes = prepared(parrot_lm, root, store, k=2, m=6)
    assert not scorer.exemplars.filtered and scorer.exemplars.correct == 0
    assert scorer.exemplars.question_ids == [f"q{i}" for i in range(6)]  # all six, unfiltered
    assert scorer.exemplars.texts == [f"Final Answer: 1\n\nFinal Answer: {i + 2}" for i in range(6)]
    assert any("NONE correct, fell back to all answers unfiltered" in n for n in notes)


def test_k_is_lowered_for_one_run_only(tiny_lm, tmp_path, store):
    from conftest import write_task

    small = write_task(tmp_path / "small", n=3)  # 3 zero-shot answers: only 2 usable in the cycle
    large = write_task(tmp_path / "large", n=12)
    scorer, _, notes = prepared(tiny_lm, small, store, k=3, m=12)
    assert any("k lowered from 3 to 2 for this run" in n for n in notes)
    assert scorer.k == 3  # the parameter itself is untouched
    fresh, candidates, _ = prepared(tiny_lm, large, store, k=3, m=12)
    assert not any("lowered" in n for n in scorer.prepare(tiny_lm, candidates, candidates.ids, store))
    item = ScoringItem(candidates.candidates("short")[4], 4)
    assert scorer.requests(tiny_lm, item) == fresh.requests(tiny_lm, item)
    assert scorer.requests(tiny_lm, item)[0].context.count("inference example: ") == 3


def test_a_question_sees_the_same_exemplars_in_any_sample(tiny_lm, tiny_task, store):
    from stylefit.scoring import score_sample

    scorer, candidates, _ = prepared(tiny_lm, tiny_task, store, k=2, m=12)
    first_n = score_sample(scorer, tiny_lm, candidates, candidates.ids[:8], store)  # q7 is 8th here
    scorer.prepare(tiny_lm, candidates, ["q7", "q2", "q9"], store)  # as a random sample would draw them
    drawn = score_sample(scorer, tiny_lm, candidates, ["q7", "q2", "q9"], store)  # ... and q7 is 1st
    for strategy in candidates.strategies:
        assert drawn.by_strategy[strategy][0] == first_n.by_strategy[strategy][7]
    assert drawn.computed == 3  # only q9 is new: q7 and q2 came from the cache, the very same requests
    # With the first N questions the choice is the authors': question i sees exemplars (i+1+j) mod (n-1).
    (request,) = scorer.requests(tiny_lm, ScoringItem(candidates.candidates("steps")[7], 7))
    texts = scorer.exemplars.texts
    assert request.context.count("inference example: ") == 2 and texts[8] in request.context and texts[9] in request.context


def test_exemplars_answering_the_scored_question_are_counted_and_can_be_excluded(parrot_lm, tmp_path, store):
    # Correct (so exemplars) on q0, q3, q5, q8, q10; the cycle has 4 of them; with k=2, question i sees
    # exemplars (i+1) mod 4 and (i+2) mod 4: q3 sees q0, q3 and q5 sees q5, q8 -- their own answers.
    root = gold_task(tmp_path / "t", ["1", "2", "3", "1", "5", "1", "7", "8", "1", "9", "1", "4"])
    scorer, candidates, notes = prepared(parrot_lm, root, store, k=2, m=12)
    answered = scorer.exemplars.question_ids
    own = [q for q in candidates.ids if q in {answered[i] for i in scorer._chosen[q]}]
    assert own == ["q3", "q5"]
    assert any("2/12 questions see the target's own answer to that very question" in n for n in notes)

    excluding, _, notes = prepared(parrot_lm, root, store, k=2, m=12, exclude_own_answer=True)
    assert any("2/12 questions would have seen the target's own answer" in n for n in notes)
    assert [answered[i] for i in excluding._chosen["q3"]] == ["q0", "q5"]  # q3's own answer replaced by the next one
    assert all(q not in {answered[i] for i in excluding._chosen[q]} for q in candidates.ids)
    assert all(len(c) == 2 for c in excluding._chosen.values())
    assert excluding._chosen["q0"] == scorer._chosen["q0"]  # questions without the problem keep the authors' choice


def test_the_paper_wrapper_is_an_explicit_option_not_guessed_from_the_name(tiny_lm, tiny_task, store):
    from stylefit.core.errors import StylefitError
    from stylefit.scoring import get_scorer

    item = ScoringItem(prepared(tiny_lm, tiny_task, store, k=2, m=6)[1].candidates("short")[0], 0)
    for params, wrapper in [({}, PAPER_SYSTEM_WRAPPER), ({"paper_wrapper": "mistral"}, PAPER_MISTRAL_WRAPPER)]:
        scorer = get_scorer("ppl", template="paper", **params)
        assert scorer.requests(tiny_lm, item)[0].context.startswith(wrapper.split("{prompt}")[0])
    sppl, _, _ = prepared(tiny_lm, tiny_task, store, k=2, m=6, variant="paper", paper_wrapper="mistral")
    assert sppl.requests(tiny_lm, item)[0].context.startswith("[INST] Question: ")
    assert sppl.params()["paper_wrapper"] == "mistral"
    with pytest.raises(StylefitError, match="paper_wrapper applies only to the 'paper' template, not 'native'"):
        get_scorer("ppl", paper_wrapper="mistral")
    with pytest.raises(StylefitError, match=r"unknown paper wrapper 'llama3' \(known: llama2, mistral\)"):
        get_scorer("sppl", variant="paper", paper_wrapper="llama3")
