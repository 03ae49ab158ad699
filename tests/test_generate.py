"""`stylefit generate` on tiny real models: verified, retried, fixed and counted; cached and resumable;
written in the format `select` reads."""

import json

import pytest

from conftest import TASK_QUESTIONS, write_task
from stylefit import select
from stylefit.api import generate
from stylefit.core.errors import StylefitError, TooFewQuestions
from stylefit.models import GenerationSpec
from stylefit.models.prompts import own_template, render_prompt
from stylefit.strategies import with_gold_answer

RECIPES = '''
[strategy.parrot_says]
description = "the parrot answers"
kind = "teacher"
teacher = "parrot"
prompt = "{question}"
max_new_tokens = 32

[strategy.parrot_fixed]
description = "the parrot answers; a wrong final answer is set to gold"
kind = "teacher"
teacher = "parrot"
prompt = "{question}"
max_new_tokens = 32
retries = 1
fix_final_answer = true

[strategy.corrects_target]
description = "minimum change of the target's answer, by the parrot"
kind = "minimum_change"
teacher = "parrot"
prompt = "{question} The student said: {answer} Gold: {gold}"
max_new_tokens = 32
retries = 0
fix_final_answer = true

[strategy.in_target_style]
description = "self-style rewrite by the random model"
kind = "self_style"
teacher = "random"
prompt = "{own_answers}{question} {gold}"
retries = 0
max_new_tokens = 8
length_retries = 0
fix_final_answer = true
k_own_answers = 2
'''


@pytest.fixture
def setup(tmp_path, parrot_lm, tiny_lm):
    root = write_task(tmp_path / "task", n=8)
    rows = [json.loads(line) for line in (root / "train.jsonl").read_text().splitlines()]
    golds = ["1", "2", "3", "1", "5", "6", "1", "8"]  # the parrot (always "Final Answer: 1") is right on q0, q3, q6
    (root / "train.jsonl").write_text("".join(json.dumps(r | {"gold": g}) + "\n" for r, g in zip(rows, golds)))
    recipes = tmp_path / "recipes.toml"
    recipes.write_text(RECIPES)
    models = {"parrot": parrot_lm, "random": tiny_lm}
    loaded = []

    def load(name):
        loaded.append(name)
        return models[name]

    kwargs = dict(recipes=[recipes], store=tmp_path / "cache.sqlite", load_model=load)
    return root, kwargs, loaded


def test_teacher_answers_are_verified_retried_and_counted(setup, tmp_path):
    root, kwargs, _ = setup
    result = generate(root, ["parrot_says", "parrot_fixed"], out=tmp_path / "out", target="parrot", **kwargs)
    says, fixed = result.strategies
    assert (says.n, says.correct_first_try, says.correct, says.still_wrong, says.fixed) == (8, 3, 3, 5, 0)
    assert says.tries == 8 + 5 + 5  # two retries for each of the five wrong answers
    rows = [json.loads(line) for line in (tmp_path / "out" / "parrot_says.jsonl").read_text().splitlines()]
    assert [r["correct"] for r in rows] == [True, False, False, True, False, False, True, False]
    assert [r["tries"] for r in rows] == [1, 3, 3, 1, 3, 3, 1, 3] and not any(r["fixed"] for r in rows)
    assert rows[0]["response"] == "Final Answer: 1"
    assert any("5/8 responses wrong after 3 tries: kept as written" in n for n in says.notes)

    fixed_rows = [json.loads(line) for line in (tmp_path / "out" / "parrot_fixed.jsonl").read_text().splitlines()]
    assert (fixed.still_wrong, fixed.fixed, fixed.tries) == (5, 5, 8 + 5)
    assert [r["response"] for r in fixed_rows] == [f"Final Answer: {g}" for g in ["1", "2", "3", "1", "5", "6", "1", "8"]]
    assert [r["fixed"] for r in fixed_rows] == [not r["correct"] for r in fixed_rows]

    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [s["strategy"] for s in manifest["strategies"]] == ["parrot_says", "parrot_fixed"]
    assert manifest["strategies"][0]["teacher_revision"] == "parrot-1" and manifest["ids"] == [f"q{i}" for i in range(8)]
    assert manifest["strategies"][0]["recipe"]["prompt"] == "{question}"


def test_a_rerun_computes_nothing_and_writes_the_same_files(setup, tmp_path):
    root, kwargs, _ = setup
    first = generate(root, ["parrot_says"], out=tmp_path / "a", target="parrot", **kwargs)
    assert first.computed > 0
    again = generate(root, ["parrot_says"], out=tmp_path / "b", target="parrot", **kwargs)
    assert again.computed == 0 and again.strategies[0].generated_tokens == 0
    assert (tmp_path / "a" / "parrot_says.jsonl").read_text() == (tmp_path / "b" / "parrot_says.jsonl").read_text()


def test_a_written_output_resumes_without_the_cache_and_only_for_the_same_request(setup, tmp_path):
    root, kwargs, loaded = setup
    first = generate(root, ["parrot_says", "answer_only"], out=tmp_path / "out", target="parrot", **kwargs)
    text, manifest = (tmp_path / "out" / "parrot_says.jsonl").read_text(), (tmp_path / "out" / "manifest.json").read_text()
    loaded.clear()
    fresh = kwargs | {"store": tmp_path / "empty.sqlite"}  # a fresh machine: the committed files, no cache
    again = generate(root, ["parrot_says", "answer_only"], out=tmp_path / "out", target="parrot", **fresh)
    assert again.computed == 0 and loaded == [] and again.strategies == first.strategies
    assert (tmp_path / "out" / "parrot_says.jsonl").read_text() == text
    assert (tmp_path / "out" / "manifest.json").read_text() == manifest  # a committed manifest stays as committed
    # Another prompt template, other settings or other questions are generated again (the teacher is loaded each time).
    spec = json.loads((root / "task.json").read_text())
    (root / "task.json").write_text(json.dumps(spec | {"prompt_template": "Q: {question}"}))
    assert generate(root, ["answer_only"], out=tmp_path / "out", target="parrot", **fresh).computed == 0  # no model needed
    assert generate(root, ["parrot_says"], out=tmp_path / "out", target="parrot", **fresh).computed > 0
    (root / "task.json").write_text(json.dumps(spec))
    loaded.clear()
    assert generate(root, ["parrot_says"], out=tmp_path / "out", target="parrot", retry_temperature=0.9, **fresh).computed > 0
    assert generate(root, ["parrot_says"], out=tmp_path / "out", target="parrot", n=4, **fresh).computed > 0
    assert loaded == ["parrot", "parrot"]


def test_the_output_is_a_candidate_set_select_reads(setup, tmp_path, tiny_lm):
    root, kwargs, _ = setup
    generate(root, ["parrot_fixed", "answer_only"], out=tmp_path / "out", target="parrot", **kwargs)
    result = select(root, [tmp_path / "out" / "parrot_fixed.jsonl", tmp_path / "out" / "answer_only.jsonl"],
                    target=tiny_lm, scorer="ppl", n=8, store=tmp_path / "s.sqlite")
    assert sorted(e.strategy for e in result.ranking.estimates) == ["answer_only", "parrot_fixed"]


def test_minimum_change_starts_from_the_targets_own_answer(setup, tmp_path, tiny_lm):
    root, kwargs, loaded = setup
    result = generate(root, ["corrects_target"], out=tmp_path / "out", target=tiny_lm, **kwargs)
    own = tiny_lm.generate([render_prompt(tiny_lm, own_template(tiny_lm), TASK_QUESTIONS[0])], GenerationSpec(max_new_tokens=256))[0]
    report = result.strategies[0]
    assert report.example_prompt == f"{TASK_QUESTIONS[0]} The student said: {own.text.strip()} Gold: 1"
    assert loaded == ["parrot"]  # the target was given loaded; only the teacher was loaded


def test_self_style_imitates_the_targets_correct_answers(setup, tmp_path):
    root, kwargs, _ = setup
    result = generate(root, ["in_target_style"], out=tmp_path / "out", target="parrot", own_answers_m=8, **kwargs)
    report = result.strategies[0]
    # The parrot is right on q0, q3, q6: those are its own correct answers, two of them shown per question.
    assert report.example_prompt.count("Final Answer: 1\n\nFinal Answer: 1") == 2
    assert any("3/8 of the target's zero-shot answers correct" in n for n in report.notes)
    # The random teacher never ends a response: each is cut, so flagged and never fixed to gold.
    assert report.truncated == report.still_wrong == 8 - report.correct and report.fixed == 0


def test_self_style_for_a_target_never_correct_is_refused_unless_the_recipe_falls_back(setup, tmp_path):
    root, kwargs, _ = setup
    with pytest.raises(StylefitError, match="strategy 'in_target_style': none of the target's 8 zero-shot answers is correct"):
        generate(root, ["in_target_style"], out=tmp_path / "out", target="random", own_answers_m=8, **kwargs)
    assert not (tmp_path / "out" / "in_target_style.jsonl").exists()
    recipes = kwargs["recipes"][0]
    # one unfiltered answer per prompt: the random model's answers are long
    recipes.write_text(recipes.read_text().replace("k_own_answers = 2", "k_own_answers = 1\nown_answers_fallback = true"))
    result = generate(root, ["in_target_style"], out=tmp_path / "out", target="random", own_answers_m=8, **kwargs)
    report = result.strategies[0]
    assert any("0/8 of the target's zero-shot answers correct; none, so it imitates its unfiltered answers" in n for n in report.notes)
    assert report.recipe["own_answers_fallback"] is True and report.n == 8


def test_gold_and_answer_only_need_no_teacher_and_are_verified(setup, tmp_path):
    root, kwargs, loaded = setup
    result = generate(root, ["answer_only"], out=tmp_path / "out", target="parrot", **kwargs)
    assert result.strategies[0].correct == 8 and loaded == []
    with pytest.raises(StylefitError, match="strategy 'gold' id 'q0': needs a human solution in the question's metadata \\(\"solution\"\\)"):
        generate(root, ["gold"], out=tmp_path / "out2", target="parrot", **kwargs)
    assert not (tmp_path / "out2" / "gold.jsonl").exists()


def test_human_solutions_come_from_the_named_metadata_field(setup, tmp_path):
    root, kwargs, _ = setup
    rows = [json.loads(line) for line in (root / "train.jsonl").read_text().splitlines()]
    rows = [r | {"metadata": {"solution": f"Count up to {r['gold']}.", "wordy": f"We count slowly, and reach {r['gold']}."}}
            for r in rows]
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipes = kwargs["recipes"][0]
    recipes.write_text(recipes.read_text() + '''
[strategy.wordy_gold]
description = "the wordy solution"
kind = "gold"
solution_field = "wordy"

[strategy.restated]
description = "the parrot restates the wordy solution"
kind = "rewrite"
teacher = "parrot"
prompt = "{question} Restate: {solution}"
solution_field = "wordy"
max_new_tokens = 16
retries = 0
''')
    result = generate(root, ["gold", "wordy_gold", "restated"], out=tmp_path / "out", target="parrot", **kwargs)
    gold = [json.loads(line)["response"] for line in (tmp_path / "out" / "gold.jsonl").read_text().splitlines()]
    wordy = [json.loads(line)["response"] for line in (tmp_path / "out" / "wordy_gold.jsonl").read_text().splitlines()]
    assert gold[1] == "Count up to 2.\nFinal Answer: 2" and wordy[1] == "We count slowly, and reach 2.\nFinal Answer: 2"
    assert result.strategies[2].example_prompt.endswith("Restate: We count slowly, and reach 1.\nFinal Answer: 1")

    # Worked examples are the last training questions, whatever n: a sample and its full set show the same ones.
    recipes.write_text(recipes.read_text() + '''
[strategy.after_examples]
description = "the parrot after two human worked examples"
kind = "teacher"
teacher = "parrot"
prompt = "{examples}{question}"
examples = "human"
max_new_tokens = 16
retries = 0
''')
    small = generate(root, ["after_examples"], out=tmp_path / "small", target="parrot", n=3, **kwargs)
    large = generate(root, ["after_examples"], out=tmp_path / "large", target="parrot", n=6, **kwargs)
    assert small.strategies[0].example_prompt == large.strategies[0].example_prompt
    assert "Count up to 8." in small.strategies[0].example_prompt  # q7, the last question
    with pytest.raises(StylefitError, match="so it can generate at most 6 of task 'tiny-sums''s 8"):
        generate(root, ["after_examples"], out=tmp_path / "all", target="parrot", n=7, **kwargs)


def test_a_routed_set_is_written_last_from_the_other_strategies(setup, tmp_path):
    root, kwargs, loaded = setup
    result = generate(root, ["parrot_fixed", "answer_only", "routed:ppl"], out=tmp_path / "out", target="parrot", **kwargs)
    report = result.strategies[-1]
    assert report.strategy == "routed:ppl" and report.kind == "routed" and report.n == 8
    assert report.recipe == {"scorer": "ppl", "between": ["parrot_fixed", "answer_only"]}
    rows = [json.loads(line) for line in (tmp_path / "out" / "routed:ppl.jsonl").read_text().splitlines()]
    sources = {s: {json.loads(l)["id"]: json.loads(l)["response"] for l in (tmp_path / "out" / f"{s}.jsonl").read_text().splitlines()}
               for s in ("parrot_fixed", "answer_only")}
    assert all(row["response"] == sources[row["from"]][row["id"]] for row in rows)
    # written into the folder, it loads as one more strategy; rerun, nothing is routed again
    result = select(root, tmp_path / "out", target=kwargs["load_model"]("parrot"), scorer="length", n=8,
                    store=tmp_path / "s.sqlite")
    assert sorted(e.strategy for e in result.ranking.estimates) == ["answer_only", "parrot_fixed", "routed:ppl"]
    again = generate(root, ["parrot_fixed", "answer_only", "routed:ppl"], out=tmp_path / "out", target="parrot", **kwargs)
    assert again.computed == 0 and again.strategies[-1].seconds == report.seconds


@pytest.mark.parametrize("args,message", [
    ({"strategies": ["cot"]}, "unknown strategy 'cot'"),
    ({"strategies": ["answer_only", "answer_only"]}, "strategies must be distinct"),
    ({"n": 9}, "n=9, but task 'tiny-sums' has 8 training questions"),
    ({"retry_temperature": 0}, "retry_temperature must be > 0"),
    ({"strategies": ["answer_only", "routed:ppl"]}, "routed:ppl routes between the other strategies asked for, and needs at least two"),
    ({"strategies": ["answer_only", "parrot_says", "routed:nope"]}, "unknown scorer 'nope'"),
])
def test_bad_requests_are_one_line_errors(setup, tmp_path, args, message):
    root, kwargs, _ = setup
    args = {"strategies": ["answer_only"]} | args
    with pytest.raises(StylefitError, match=message):
        generate(root, args.pop("strategies"), out=tmp_path / "out", target="parrot", **kwargs, **args)


@pytest.mark.parametrize("text,expected", [
    ("3 + 4 = 8\nFinal Answer: 8", "3 + 4 = 8\nFinal Answer: 7"),
    ("so the final answer is 8. Done.\nextra", "so the final answer is 7.\nFinal Answer: 7"),
    ("The final answer is 3.", "The final answer is 7.\nFinal Answer: 7"),
    ("Therefore, the final answer is \\boxed{8}", "Therefore, the final answer is 7\nFinal Answer: 7"),
    ("the final answer is", "the final answer is 7\nFinal Answer: 7"),
    ("no marker here", "no marker here\nFinal Answer: 7"),
    ("Final Answer: 8\nwait\nFINAL ANSWER: 9 apples", "Final Answer: 8\nwait\nFinal Answer: 7"),
])
def test_with_gold_answer_replaces_the_last_final_answer(text, expected):
    assert with_gold_answer(text, "7") == expected


@pytest.mark.integration
def test_the_cli_generates_with_the_default_model_and_select_ranks_the_result(tmp_path):
    import os
    import subprocess
    import sys

    from conftest import EXAMPLE

    recipes = tmp_path / "recipes.toml"
    recipes.write_text('''
[strategy.smol_steps]
description = "SmolLM2 step by step, final answer fixed to gold"
kind = "teacher"
teacher = "smollm2-135m-instruct"
prompt = "{question}\\n\\nSolve it step by step."
max_new_tokens = 96
retries = 1
fix_final_answer = true
''')
    home = os.environ.get("STYLEFIT_HOME") or str(tmp_path / "home")
    env = os.environ | {"STYLEFIT_HOME": home, "COLUMNS": "160"}
    out = tmp_path / "out"
    args = [sys.executable, "-m", "stylefit", "generate", str(EXAMPLE), "-s", "smol_steps", "-s", "minimum_change",
            "-s", "answer_only", "--n", "4", "--out", str(out), "--recipes", str(recipes), "--cache", str(tmp_path / "c.sqlite")]
    # minimum_change's built-in teacher is Qwen (make install-qwen): here it is overridden to run on SmolLM2.
    recipes.write_text(recipes.read_text() + '''
[strategy.minimum_change]
description = "SmolLM2 corrects its own answer"
kind = "minimum_change"
teacher = "smollm2-135m-instruct"
prompt = "{question}\\n\\nA student answered:\\n{answer}\\n\\nThe correct answer is {gold}. Correct the student's answer with as few changes as possible."
max_new_tokens = 96
retries = 0
fix_final_answer = true
''')
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    by_name = {s["strategy"]: s for s in manifest["strategies"]}
    assert by_name["answer_only"]["correct"] == 4 and by_name["smol_steps"]["teacher"] == "smollm2-135m-instruct"
    for name in ("smol_steps", "minimum_change"):
        report = by_name[name]
        assert report["correct"] + report["still_wrong"] == 4 and report["fixed"] == report["still_wrong"]
        rows = [json.loads(line) for line in (out / f"{name}.jsonl").read_text().splitlines()]
        assert len(rows) == 4 and all(r["response"].strip() for r in rows)
    again = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
    assert again.returncode == 0 and "0 generations computed" in again.stdout
    ranked = subprocess.run([sys.executable, "-m", "stylefit", "select", str(EXAMPLE), str(out / "smol_steps.jsonl"),
                             str(out / "minimum_change.jsonl"), str(out / "answer_only.jsonl"), "--scorer", "ppl", "--n", "4"],
                            capture_output=True, text=True, env=env, timeout=900)
    assert ranked.returncode == 0, ranked.stderr[-2000:]


def test_progress_gives_a_callback_that_takes_tokens_the_stages_generated_tokens(setup, tmp_path):
    root, kwargs, _ = setup
    calls = []
    result = generate(root, ["parrot_says"], out=tmp_path / "a", target="parrot",
                      progress=lambda stage, total, advance, tokens=None: calls.append((stage, total, advance, tokens)), **kwargs)
    stages = list(dict.fromkeys(c[0] for c in calls))
    assert stages == [f"parrot_says: parrot (try {k})" for k in (1, 2, 3)]
    first = [c for c in calls if c[0] == stages[0]]
    assert first[0] == (stages[0], 8, 0, 0) and sum(c[2] for c in first) == 8
    last_tokens = [[c[3] for c in calls if c[0] == s][-1] for s in stages]
    assert all(t > 0 for t in last_tokens) and sum(last_tokens) == result.strategies[0].generated_tokens
    plain = []  # a callback without ``tokens`` is called as before; a cached rerun advances without generating
    generate(root, ["parrot_says"], out=tmp_path / "b", target="parrot",
             progress=lambda stage, total, advance: plain.append((stage, total, advance)), **kwargs)
    assert [c for c in plain if c[0] == stages[0]] == [(stages[0], 8, 0), (stages[0], 8, 8)]


def test_a_prompt_that_cannot_be_generated_stops_the_run_naming_the_strategy_and_question(tmp_path, parrot_lm):
    root = write_task(tmp_path / "task", n=12)  # q10 and q11 ask "What is 10 + 1?": one character longer than q0..q9
    prompt = render_prompt(parrot_lm, own_template(parrot_lm), TASK_QUESTIONS[9])
    fits = parrot_lm.max_length - len(parrot_lm.tokenize(prompt))  # new tokens that fit q0..q9 exactly
    recipes = tmp_path / "long.toml"
    recipes.write_text(f'[strategy.long]\ndescription = "d"\nkind = "teacher"\nteacher = "parrot"\nprompt = "{{question}}"\n'
                       f'max_new_tokens = {fits}\nretries = 0\nfix_final_answer = true\n')
    kwargs = dict(recipes=[recipes], store=tmp_path / "cache.sqlite", load_model=lambda name: parrot_lm, target="parrot")
    assert generate(root, ["long"], out=tmp_path / "a", n=10, **kwargs).computed == 10
    with pytest.raises(StylefitError) as failed:  # q0..q9 come from the cache: the error still names q10
        generate(root, ["long"], out=tmp_path / "b", **kwargs)
    assert str(failed.value) == (f"strategy 'long' id 'q10': prompt of {len(parrot_lm.tokenize(prompt)) + 1} tokens + {fits} "
                                 f"new tokens exceed the context of 'parrot' ({parrot_lm.max_length})")


CUT = '''
[strategy.room]
description = "the parrot with too few tokens at first"
kind = "teacher"
teacher = "parrot"
prompt = "{question}"
max_new_tokens = 4
length_retries = 2
retries = 0
fix_final_answer = true

[strategy.cramped]
description = "the parrot never given enough tokens"
kind = "teacher"
teacher = "parrot"
prompt = "{question}"
max_new_tokens = 4
length_retries = 1
retries = 0
fix_final_answer = true
'''


def test_a_cut_response_is_asked_again_longer_and_one_still_cut_is_flagged_never_fixed(setup, tmp_path, tiny_target):
    """'Final Answer: 1' is 15 tokens and an end token: cut at 4 and 8 tokens, whole at 16. A cut response with
    the gold answer stitched on would teach the cut, so it is flagged, never fixed, and left out of training."""
    from stylefit.data import load_task
    from stylefit.data.candidates import load_candidates
    from stylefit.loop import _chat_rows
    from stylefit.training.recipe import EvalSettings
    from stylefit.training.plan import plan_runs
    from stylefit.training.verify import eval_budget

    root, kwargs, _ = setup
    (tmp_path / "cut.toml").write_text(CUT)
    result = generate(root, ["room", "cramped"], out=tmp_path / "out", **kwargs | {"recipes": [tmp_path / "cut.toml"]})
    room, cramped = result.strategies
    rows = {name: [json.loads(line) for line in (tmp_path / "out" / f"{name}.jsonl").read_text().splitlines()]
            for name in ("room", "cramped")}
    assert {r["response"] for r, gold in zip(rows["room"], "12315618") if gold == "1"} == {"Final Answer: 1"}
    assert (room.tries, room.extended, room.hit_length_limit, room.truncated, room.fixed) == (24, 16, 16, 0, 5)
    assert (cramped.tries, cramped.extended, cramped.truncated, cramped.fixed, cramped.still_wrong, cramped.correct) == (16, 8, 8, 0, 8, 0)
    assert all(r["truncated"] and not r["fixed"] and not r["correct"] and r["response"] == "Final An" for r in rows["cramped"])
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())["strategies"][1]
    assert manifest["truncated"] == 8 and manifest["notes"] == [
        "8/8 responses still cut at 8 tokens: written as cut, flagged truncated=true, never fixed; training leaves them out"]
    # Downstream: the loop's training set and verify's runs leave the cut responses out, even where wrong ones are kept.
    (root / "test.jsonl").write_text(json.dumps({"id": "t0", "question": "What is 9 + 9?", "gold": "18"}) + "\n")
    (root / "task.json").write_text(json.dumps(json.loads((root / "task.json").read_text()) | {"test": "test.jsonl"}))
    task = load_task(root)
    assert _chat_rows(task, rows["cramped"], keep_wrong=True) == ([], 8)
    candidates = load_candidates(task, [tmp_path / "out" / "room.jsonl", tmp_path / "out" / "cramped.jsonl"])
    (spec,) = plan_runs(task, candidates, tiny_target, strategies=["room"], seeds=[0], base=False)
    assert len(spec.train) == 8
    # The evaluation budget is checked against the longest target that is trained on (15 characters, 1 token each).
    budget = eval_budget(candidates, tiny_target, ["room", "cramped"], 8, EvalSettings(max_new_tokens=16))
    assert (budget["longest_target_tokens"], budget["needed"], budget["enough"]) == (15, 19, False)
    with pytest.raises(TooFewQuestions, match="strategy 'cramped': all 8 training responses are flagged truncated"):
        plan_runs(task, candidates, tiny_target, seeds=[0], base=False)


def test_a_teacher_that_writes_bare_answers_is_named_and_duplicate_strategies_are_counted_once(setup, tmp_path):
    """Where every gold is 1, the parrot's 'Final Answer: 1' is answer_only under another name: the manifest says
    so, and counts one distinct strategy, not two."""
    from stylefit.data.overlap import strategy_overlap

    root, kwargs, _ = setup
    rows = [json.loads(line) for line in (root / "train.jsonl").read_text().splitlines()]
    (root / "train.jsonl").write_text("".join(json.dumps(r | {"gold": "1"}) + "\n" for r in rows))
    result = generate(root, ["parrot_says", "answer_only"], out=tmp_path / "out", target="parrot", **kwargs)
    says = result.strategies[0]
    assert says.notes == ["100% of its responses are the bare final answer: the task's own format instruction likely "
                          "overrides the recipe's prompt, so it is answer_only under another name"]
    assert result.overlap["distinct"] == 1 and result.overlap["groups"] == [["parrot_says", "answer_only"]]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["overlap"]["pairs"] == [{"a": "parrot_says", "b": "answer_only", "identical": 1.0, "near_identical": 1.0}]
    again = generate(root, ["parrot_says", "answer_only"], out=tmp_path / "out", target="parrot", **kwargs)
    assert again.strategies[0].notes == says.notes  # kept from the manifest, not said twice
    # By hand: near-identical is >= 0.9 character similarity; a pair counts as one at >= 90% of questions.
    o = strategy_overlap({"a": ["x = 12", "the sum is 7", "abc"], "b": ["x  =  12", "the sum is 7.", "xyz"], "c": ["q"] * 3})
    assert [(p.a, p.b, round(p.identical, 2), round(p.near_identical, 2)) for p in o.pairs] == [
        ("a", "b", 0.33, 0.67), ("a", "c", 0.0, 0.0), ("b", "c", 0.0, 0.0)]
    assert o.distinct == 3


def test_routing_gives_a_tie_to_the_first_strategy_in_order_and_counts_it(tmp_path, parrot_lm):
    """Two strategies with the same responses tie on every question: each goes to whichever comes first."""
    from stylefit.selection.routing import route

    same = lambda r: f"Final Answer: {r['gold']}"
    root = write_task(tmp_path / "task", n=6, strategies={"a": same, "b": same})
    for order in (["a", "b"], ["b", "a"]):
        routed = route(root, [root / "candidates" / f"{s}.jsonl" for s in order], target=parrot_lm, scorer="ppl",
                       store=tmp_path / "c.sqlite")
        assert routed.ties == 6 and routed.composition == {order[0]: 1.0}
