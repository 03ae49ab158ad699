"""The strategy library: built-in recipes, user recipes from TOML, and clear errors for bad ones."""

import pytest

from stylefit.core.errors import StylefitError
from stylefit.strategies import KINDS, Strategy, built_in, get_strategy, load_recipes, strategy_library

EXAMPLES = [("What is 1 + 1?", "2", "1 + 1 = 2\nFinal Answer: 2"), ("What is 2 + 2?", "4", "2 + 2 = 4\nFinal Answer: 4")]


def test_the_built_in_library_has_every_kind_the_method_needs():
    library = built_in()
    assert {"direct", "step_by_step", "teacher_examples", "human_examples", "rewrite_gold", "gold", "answer_only",
            "minimum_change", "self_style_rewrite", "paraphrase"} <= set(library)
    assert {s.kind for s in library.values()} == set(KINDS)
    assert library["minimum_change"].fix_final_answer and library["human_examples"].examples == "human"


def test_the_strategies_a_user_without_worked_solutions_cannot_write_are_named():
    """Gold labels are what every user has; worked solutions only a solution generator or annotators give."""
    library = built_in()
    assert {name for name, s in library.items() if s.uses_human_solution} == {"human_examples", "rewrite_gold", "gold"}
    mine = library["self_style_rewrite"].model_copy(update={"prompt": library["self_style_rewrite"].prompt + "\n{solution}"})
    assert mine.uses_human_solution and not library["teacher_examples"].uses_human_solution


@pytest.mark.parametrize("name", [s.name for s in built_in().values() if s.prompt is not None])
def test_every_built_in_prompt_renders_what_its_kind_needs(name):
    s = built_in()[name]
    text = s.render("What is 7 + 5? End with 'Final Answer: N'.", "12", solution="7 plus 5 makes twelve.",
                    examples=EXAMPLES if s.examples != "none" else [], answer="7 + 5 = 13\nFinal Answer: 13",
                    own_answers=["3 + 4 = 7\nFinal Answer: 7"])
    assert "What is 7 + 5?" in text and "{" not in text and "Final Answer" in text
    if s.kind in ("minimum_change", "self_style"):
        assert "12" in text
    if s.kind == "rewrite":
        assert "7 plus 5 makes twelve." in text
    if s.kind in ("minimum_change", "paraphrase"):
        assert "7 + 5 = 13" in text
    if s.kind == "self_style":
        assert "3 + 4 = 7" in text
    if s.examples != "none":
        assert 'Example 2: Question: "What is 2 + 2?"' in text and "2 + 2 = 4" in text


def test_a_toml_file_adds_and_overrides_recipes(tmp_path):
    path = tmp_path / "recipes.toml"
    path.write_text('''
[strategy.concise]
description = "Qwen, briefly"
kind = "teacher"
teacher = "qwen2.5-coder-0.5b-instruct"
prompt = "{question}\\nAnswer in one line, ending with 'Final Answer: N'. Literal {{braces}} stay."
temperature = 0.7

[strategy.direct]
description = "SmolLM2 instead of Qwen"
kind = "teacher"
teacher = "smollm2-135m-instruct"
prompt = "{question}"
''')
    library = strategy_library(path)
    assert library["concise"].temperature == 0.7 and library["concise"].source == str(path)
    assert library["concise"].render("Q?", "1") == "Q?\nAnswer in one line, ending with 'Final Answer: N'. Literal {braces} stay."
    assert library["direct"].teacher == "smollm2-135m-instruct" and len(library) == len(built_in()) + 1
    assert get_strategy("concise", library).kind == "teacher"


@pytest.mark.parametrize("body,message", [
    ('[strategy.x]\ndescription = "d"\nkind = "teacher"\nteacher = "t"\nprompt = "{question}"\ncolour = "red"\n',
     "strategy.x.colour: Extra inputs are not permitted"),
    ('[strategy.x]\ndescription = "d"\nkind = "teacher"\nteacher = "t"\nprompt = "{question} {qestion}"\n',
     "strategy.x: Value error, prompt uses unknown placeholder(s) {qestion}"),
    ('[strategy.x]\ndescription = "d"\nkind = "minimum_change"\nteacher = "t"\nprompt = "{question} {gold}"\n',
     "strategy.x: Value error, a 'minimum_change' prompt must contain {answer}"),
    ('[strategy.x]\ndescription = "d"\nkind = "teacher"\nprompt = "{question}"\n',
     "strategy.x: Value error, a 'teacher' strategy needs a prompt and a teacher"),
    ('[strategy.x]\ndescription = "d"\nkind = "gold"\nteacher = "t"\n', "a 'gold' strategy has no prompt and no teacher"),
    ('[strategy.x]\ndescription = "d"\nkind = "teacher"\nteacher = "t"\nprompt = "{question}"\ntemperature = "hot"\n',
     "strategy.x.temperature: Input should be a valid number"),
    ('[strategy.x]\ndescription = "d"\nkind = "oracle"\n', "strategy.x.kind: Input should be"),
    ('[strategy.x]\ndescription = "d"\nkind = "teacher"\nteacher = "t"\nprompt = "{question}"\nexamples = "human"\n',
     "the prompt contains {examples} exactly when examples is 'teacher' or 'human'"),
    ("[strategy.x\n", "not valid TOML"),
    ('[strategies.x]\ndescription = "d"\n', "unknown top-level key 'strategies'"),
    ("title = 1\n", "unknown top-level key 'title'"),
])
def test_a_bad_recipe_is_one_line_naming_file_and_recipe(tmp_path, body, message):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(StylefitError) as e:
        load_recipes(path)
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value) and "\n" not in str(e.value)


def test_unknown_strategy_names_the_known_ones():
    with pytest.raises(StylefitError, match=r"unknown strategy 'cot' \(known: direct, step_by_step"):
        get_strategy("cot")
    with pytest.raises(ValueError):
        Strategy(name="bad name", description="d", kind="gold")


def test_the_cli_lists_the_library_with_a_users_file(tmp_path):
    from typer.testing import CliRunner

    from stylefit.cli import app

    path = tmp_path / "r.toml"
    path.write_text('[strategy.mine]\ndescription = "my own"\nkind = "teacher"\nteacher = "smollm2-135m-instruct"\n'
                    'prompt = "{question}"\n')
    result = CliRunner().invoke(app, ["strategies", "--file", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in [*built_in(), "mine"]:
        assert name in result.output
