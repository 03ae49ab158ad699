"""Evaluation on known outputs: strict and flexible readings, per-item records, greedy prompts."""

import pytest

from conftest import EXAMPLE
from stylefit.data import load_task
from stylefit.models.base import Generation
from stylefit.training.evaluate import EvalQuestion, evaluate, score_outputs


def q(i, gold, prompt="?"):
    return EvalQuestion(id=f"q{i}", prompt=prompt, gold=gold)


def test_known_outputs_are_scored_strictly_and_flexibly_item_by_item():
    questions = [q(1, "5"), q(2, "7"), q(3, "9"), q(4, "4")]
    outputs = [
        Generation("2 + 3 = 5\nFinal Answer: 5", 9, "stop"),  # right, with the marker
        Generation("The sum is 7", 5, "stop"),  # right, but no marker: flexible only
        Generation("Final Answer: 8\nor maybe 9", 8, "stop"),  # the marker's answer is wrong: wrong in both
        Generation("4 + 0 = 4, and then 4 + 0 is", 12, "length"),  # cut by the token limit, last number 0
    ]
    e = score_outputs(questions, outputs, "final_answer_number")
    assert (e.n, e.accuracy_strict, e.accuracy_flexible) == (4, 0.25, 0.5)
    assert e.hit_length_limit == 1 and e.generated_tokens == 34
    rows = [(i.id, i.strict_extracted, i.strict_correct, i.flexible_extracted, i.flexible_correct) for i in e.items]
    assert rows == [
        ("q1", "5", True, "5", True),
        ("q2", None, False, "7", True),
        ("q3", "8", False, "8", False),
        ("q4", None, False, "0", False),
    ]
    assert e.accuracy("strict") == 0.25 and e.items[1].output == "The sum is 7" and e.items[3].finish_reason == "length"


def test_the_example_tasks_reasoning_gym_verifier():
    task = load_task(EXAMPLE)
    questions = [EvalQuestion(id=x.id, prompt=task.prompt(x), gold=x.gold, metadata=x.metadata) for x in task.test[:2]]
    assert [x.gold for x in questions] == ["12", "1"]
    e = score_outputs(questions, [Generation("3 + 9 = 12\nFinal Answer: 12", 9, "stop"), Generation("Final Answer: 2", 4, "stop")],
                      "reasoning_gym")
    assert [i.strict_correct for i in e.items] == [True, False] and e.accuracy_flexible == 0.5


class ScriptedLM:
    """Answers from a script; records what it was asked."""

    name, revision, template_id = "scripted", "r0", "t0"

    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def render_chat(self, prompt):
        return f"<user>{prompt}<assistant>"

    def generate(self, prompts, spec, progress=None, batch_size=16):
        self.calls.append((prompts, spec, batch_size))
        return [Generation(self.answers[p], 3, "stop") for p in prompts]


def test_evaluate_asks_greedily_in_the_chat_template():
    lm = ScriptedLM({"<user>What is 2 + 2?<assistant>": "Final Answer: 4", "<user>What is 1 + 2?<assistant>": "Final Answer: 4"})
    e = evaluate(lm, [q(1, "4", "What is 2 + 2?"), q(2, "3", "What is 1 + 2?")], "final_answer_number", max_new_tokens=32, batch_size=4)
    prompts, spec, batch_size = lm.calls[0]
    assert spec.temperature == 0 and spec.max_new_tokens == 32 and batch_size == 4
    assert e.accuracy_strict == 0.5 and [i.strict_correct for i in e.items] == [True, False]
    assert e.generation_s >= 0 and e.verification_s > 0


def test_mismatched_outputs_are_refused():
    with pytest.raises(ValueError, match="1 outputs for 2 questions"):
        score_outputs([q(1, "1"), q(2, "2")], [Generation("1", 1, "stop")], "exact")
