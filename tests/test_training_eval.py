"""Evaluation on known outputs: strict and flexible readings, per-item records, greedy prompts."""

import pytest

from conftest import EXAMPLE
from stylefit.data import load_task
from stylefit.models.base import Generation, GenerationSpec
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

    name, revision, template_id, dtype, bos_prefix = "scripted", "r0", "t0", "float32", False

    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def render_chat(self, prompt):
        return f"<user>{prompt}<assistant>"

    def generate(self, prompts, spec, progress=None, batch_size=16, seeds=None, on_done=None):
        self.calls.append((prompts, spec, batch_size))
        out = [Generation(self.answers[p], 3, "stop") for p in prompts]
        if on_done:
            on_done(dict(enumerate(out)))
        return out


def test_evaluate_asks_greedily_in_the_chat_template():
    lm = ScriptedLM({"<user>What is 2 + 2?<assistant>": "Final Answer: 4", "<user>What is 1 + 2?<assistant>": "Final Answer: 4"})
    e = evaluate(lm, [q(1, "4", "What is 2 + 2?"), q(2, "3", "What is 1 + 2?")], "final_answer_number", max_new_tokens=32, batch_size=4)
    prompts, spec, batch_size = lm.calls[0]
    assert spec.temperature == 0 and spec.max_new_tokens == 32 and batch_size == 4
    assert e.accuracy_strict == 0.5 and [i.strict_correct for i in e.items] == [True, False]
    assert e.generation_s >= 0 and e.verification_s > 0


def test_a_base_model_answers_in_plain_text_and_stops_at_its_answer_line(store):
    """No end of turn: a base model's answers (evaluation, and every generation through the cache) end
    at the answer line its prompts ask for; a chat model's spec is left as it is."""
    from stylefit.models.prompts import ANSWER_LINE
    from stylefit.models.sampling import generate_cached

    base = ScriptedLM({"What is 2 + 2?\n": "Final Answer: 4"})
    base.template_id = "none"
    evaluate(base, [q(1, "4", "What is 2 + 2?")], "final_answer_number", max_new_tokens=32)
    generate_cached(base, ["What is 2 + 2?\n"], GenerationSpec(max_new_tokens=8), store)
    assert [call[1].stop_regex for call in base.calls] == [ANSWER_LINE, ANSWER_LINE]
    chat = ScriptedLM({"<user>What is 2 + 2?<assistant>": "Final Answer: 4"})
    evaluate(chat, [q(1, "4", "What is 2 + 2?")], "final_answer_number", max_new_tokens=32)
    assert chat.calls[0][1] == GenerationSpec(max_new_tokens=32)


def test_mismatched_outputs_are_refused():
    with pytest.raises(ValueError, match="1 outputs for 2 questions"):
        score_outputs([q(1, "1"), q(2, "2")], [Generation("1", 1, "stop")], "exact")


@pytest.mark.parametrize("text,loops", [
    ("Let me think. " + "2 = 2*2*2 = " * 12 + "2 = 2*", True),  # a cycle, cut mid-way
    ("x" * 99, False),  # too short to call
    ("Steps:\n" + "9 * 1 = 9\n" * 15, True),
    # runaway but never the same cycle: a larger budget might still end it
    ("".join(f"6*(-{k}) = " for k in range(50, 80)), False),
    ("First, subtract 5 from both sides: 3x = 12. Then divide by 3: x = 4. So the answer is 4 and we check it by "
     "putting 4 back: 3*4 + 5 = 17, which matches. Final Answer: 4, and this is the end of the sol", False),
])
def test_an_output_caught_in_a_loop_is_told_from_one_the_budget_cut(text, loops):
    from stylefit.training.evaluate import looping

    assert looping(text) is loops


def test_a_run_is_flagged_for_cut_answers_not_counting_those_caught_in_a_loop():
    from stylefit.training.summary import cut_flagged

    questions = [EvalQuestion(id=f"q{i}", prompt="p", gold="1") for i in range(100)]
    loop, cut = "Final " + "1 + 1 = 2, " * 20, "Let us add the numbers one by one: first 1, then"
    outputs = [Generation(loop, 30, "length")] * 3 + [Generation(cut, 30, "length")] * 2 + [Generation("Final Answer: 1", 4, "stop")] * 95
    e = score_outputs(questions, outputs, "final_answer_number")
    assert e.hit_length_limit == 5 and e.looping == 3
    assert not cut_flagged(e.hit_length_limit, 100, e.looping) and cut_flagged(e.hit_length_limit, 100)
    outputs[5] = Generation(cut, 30, "length")
    e = score_outputs(questions, outputs, "final_answer_number")
    assert cut_flagged(e.hit_length_limit, 100, e.looping)  # 3 cut mid-answer of 100: past 2%
