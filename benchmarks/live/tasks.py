"""Write the live track's task folders: reasoning-gym questions with two programmatic solutions each.

    python benchmarks/live/tasks.py            # writes benchmarks/live/tasks/<task>/

Every task has 300 training and 300 test questions (distinct, test disjoint from train), the
`reasoning_gym` verifier, and in each training question's metadata:
  solution          a terse worked solution, one line per step (the "human" / generator style)
  verbose_solution  a wordy step-by-step template around the same computation
Both end with "Final Answer: <gold>". Seeds and generator configs are fixed here, so a rerun
writes the same files.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import reasoning_gym
from reasoning_gym.algorithmic.word_sorting import TextTransformation
from reasoning_gym.logic.aiw import TaskType

from stylefit.data.jsonl import write_atomic, write_jsonl
from stylefit.data.verifiers import check, get_verifier

OUT = Path(__file__).resolve().parent / "tasks"
N_TRAIN, N_TEST = 300, 300
PROMPT = "{question}\n\nPlease provide the final answer at the end, after 'Final Answer:'"
# chain_sum keeps the bundled example's prompt: with the generic one SmolLM2 writes "The final answer 3"
# (no colon) and none of its zero-shot answers passes the strict reading, so self-style has nothing to imitate.
NUMBER_PROMPT = "{question}\n\nPlease provide the final answer (a number) at the end, after 'Final Answer:'"


def chain_sum(meta: dict, gold: str) -> tuple[str, str]:
    tokens = meta["expression"].split()
    value, terse, wordy = int(tokens[0]), [], []
    for i, (op, right) in enumerate(zip(tokens[1::2], tokens[2::2]), start=1):
        result = value + int(right) if op == "+" else value - int(right)
        terse.append(f"{value} {op} {right} = {result}")
        verb = f"add {right} to {value}" if op == "+" else f"subtract {right} from {value}"
        wordy.append(f"Step {i}: We {verb}, which gives {result}.")
        value = result
    return ("\n".join(terse), "Let's solve this step by step.\n\nWe evaluate the expression "
            f"{meta['expression']} from left to right.\n\n" + "\n".join(wordy) + f"\n\nTherefore, the result is {gold}.")


def leg_counting(meta: dict, gold: str) -> tuple[str, str]:
    from reasoning_gym.arithmetic.leg_counting import ANIMALS

    terse, wordy, parts = [], [], []
    for animal, count in meta["animals"].items():
        legs = ANIMALS[animal]
        terse.append(f"{count} {animal} x {legs} legs = {count * legs}")
        wordy.append(f"A {animal} has {legs} legs, so {count} of them have {count} times {legs}, which is {count * legs} legs.")
        parts.append(str(count * legs))
    total = [" + ".join(parts) + f" = {gold}"] if len(parts) > 1 else []
    adding = f"\n\nAdding them up: {total[0]}." if total else ""
    return ("\n".join(terse + total), "Let's count the legs animal by animal.\n\n" + "\n".join(wordy) + adding
            + f"\n\nTherefore, there are {gold} legs in total.")


def count_bits(meta: dict, gold: str) -> tuple[str, str]:
    binary = meta["binary"]
    return (f"{meta['number']} in binary is {binary}\nIt has {gold} ones",
            f"Let's write the number {meta['number']} in base 2.\n\nIn binary it is {binary}.\n\n"
            f"Now we count the digits that are 1: there are {gold} of them.\n\nTherefore, {meta['number']} has {gold} bits set to 1.")


def letter_counting(meta: dict, gold: str) -> tuple[str, str]:
    letter = meta["target_letter"]
    terse, wordy = [], []
    for word in meta["span"]:
        n = word.lower().count(letter)
        terse.append(f"{word}: {n}")
        wordy.append(f'The word "{word}" contains the letter "{letter}" {n} time{"s" if n != 1 else ""}.')
    return ("\n".join(terse) + f"\nTotal: {gold}", f'Let\'s go through the text word by word and count the letter "{letter}".\n\n'
            + "\n".join(wordy) + f"\n\nAdding these up, the letter appears {gold} times.")


def products(meta: dict, gold: str) -> tuple[str, str]:
    terms = [int(t) for t in meta["expression"].split(" * ")]
    value, terse, wordy = terms[0], [], []
    for i, t in enumerate(terms[1:], start=1):
        terse.append(f"{value} * {t} = {value * t}")
        wordy.append(f"Step {i}: we multiply {value} by {t}, which gives {value * t}.")
        value *= t
    return ("\n".join(terse), f"Let's solve this step by step.\n\nWe multiply {meta['expression']} from left to right.\n\n"
            + "\n".join(wordy) + f"\n\nTherefore, the product is {gold}.")


def _reduce_once(node: ast.AST) -> tuple[ast.AST, str | None]:
    """Evaluate the leftmost operation whose operands are numbers; return the tree and what was done."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        value = node.operand.value
        # "-5" is a number's sign; "-( 5 + 8 )" negates a bracket, a step of its own
        return ast.Constant(-value), f"-({value}) = {-value}" if getattr(node, "bracket", False) else None
    if isinstance(node, ast.BinOp) and all(isinstance(n, ast.Constant) for n in (node.left, node.right)):
        a, b, op = node.left.value, node.right.value, node.op
        value = {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}.get(type(op), None)
        if value is None:
            assert b != 0 and a % b == 0, "basic_arithmetic divides exactly"
            value = a // b
        return ast.Constant(value), f"{ast.unparse(node)} = {value}"
    for field in ("operand", "left", "right"):
        child = getattr(node, field, None)
        if child is not None and not isinstance(child, ast.Constant):
            new, step = _reduce_once(child)
            setattr(node, field, new)
            return node, step
    raise AssertionError(f"nothing to reduce in {ast.unparse(node)}")


def basic_arithmetic(meta: dict, gold: str) -> tuple[str, str]:
    tree = ast.parse(meta["expression"], mode="eval").body
    for node in ast.walk(tree):
        if isinstance(node, ast.UnaryOp) and not isinstance(node.operand, ast.Constant):
            node.bracket = True
    terse, wordy = [], []
    while not isinstance(tree, ast.Constant):
        tree, step = _reduce_once(tree)
        if step:
            terse.append(step)
            done, value = step.split(" = ")
            wordy.append(f"Step {len(wordy) + 1}: we work out {done}, which gives {value}.")
    assert str(tree.value) == gold, (meta["expression"], tree.value, gold)
    return ("\n".join(terse or [f"{meta['expression']} = {gold}"]),
            f"Let's solve this step by step.\n\nWe evaluate {meta['expression']}, doing multiplication and division "
            "before addition and subtraction, and brackets first.\n\n" + "\n".join(wordy) + f"\n\nTherefore, the result is {gold}.")


def spell_backward(meta: dict, gold: str) -> tuple[str, str]:
    word = meta["word"]
    return (f"{word} = {' '.join(word)}\nbackward: {' '.join(reversed(word))} = {gold}",
            f"Let's spell the word \"{word}\" one letter at a time: {', '.join(word)}.\n\n"
            f"Now we read the letters from the last to the first: {', '.join(reversed(word))}.\n\n"
            f"Joining them together gives \"{gold}\".")


def simple_equations(meta: dict, gold: str) -> tuple[str, str]:
    lhs, rhs = meta["equation"].split(" = ")
    var, rhs = meta["variable"], int(rhs)
    tokens = lhs.replace(" - ", " + -").split(" + ")
    coef, const = 0, 0
    for t in tokens:
        if var in t:
            factor = t.replace(f"*{var}", "").replace(var, "")
            coef += int(factor) if factor not in ("", "-") else (-1 if factor == "-" else 1)
        else:
            const += int(t)
    terse, wordy = [meta["equation"]], []
    value = rhs - const
    if const:
        terse.append(f"{coef}*{var} = {rhs} - {const} = {value}" if const > 0 else f"{coef}*{var} = {rhs} + {-const} = {value}")
        move = f"subtract {const} from" if const > 0 else f"add {-const} to"
        wordy.append(f"Step {len(wordy) + 1}: we {move} both sides, which gives {coef}*{var} = {value}.")
    if coef != 1:
        terse.append(f"{var} = {value} / {coef} = {value // coef}")
        wordy.append(f"Step {len(wordy) + 1}: we divide both sides by {coef}, which gives {var} = {value // coef}.")
    assert value % coef == 0 and str(value // coef) == gold, (meta["equation"], gold)
    return ("\n".join(terse), f"Let's solve this step by step.\n\nWe want {var} alone on one side of {meta['equation']}.\n\n"
            + "\n".join(wordy or [f"Step 1: {var} is already alone."]) + f"\n\nTherefore, {var} = {gold}.")


def word_sequence_reversal(meta: dict, gold: str) -> tuple[str, str]:
    words = meta["words"]
    numbered = ", ".join(f"{i}. {w}" for i, w in enumerate(words, start=1))
    return (f"words: {', '.join(words)}\nreversed: {', '.join(reversed(words))}",
            f"Let's list the words in their order: {numbered}.\n\n"
            f"Now we read them from the last to the first: {', then '.join(reversed(words))}.\n\n"
            f"Joining them with commas gives \"{gold}\".")


def _chain(items: list, keys: list, direction: str) -> str:
    """'a < b = c' (ascending) or 'c > b = a' (descending), '=' where neighbours are equal."""
    op = "<" if direction == "ascending" else ">"
    out = [str(items[0])]
    for (a, b), item in zip(zip(keys, keys[1:]), items[1:]):
        out += ["=" if a == b else op, str(item)]
    return " ".join(out)


def _selection_steps(items: list[str], order: list[str], key: Callable, pick: str, largest: bool) -> list[str]:
    """'Step i: of <remaining>, the <pick> is <next>.' for a selection sort that yields `order`."""
    remaining, steps = list(items), []
    for i, item in enumerate(order[:-1], start=1):
        assert key(item) == (max if largest else min)(map(key, remaining))
        steps.append(f"Step {i}: of {', '.join(remaining)}, the {pick} is {item}.")
        remaining.remove(item)
    steps.append(f"Step {len(order)}: only {remaining[0]} is left.")
    return steps


def number_sorting(meta: dict, gold: str) -> tuple[str, str]:
    numbers, order, direction = meta["original_numbers"], meta["sorted_numbers"], meta["direction"]
    pick = "smallest" if direction == "ascending" else "largest"
    steps = _selection_steps(numbers, order, float, pick, largest=direction == "descending")
    return (f"numbers: {', '.join(numbers)}\n{direction}: {_chain(order, [float(n) for n in order], direction)}",
            f"Let's sort the numbers {', '.join(numbers)} in {direction} order by picking the {pick} number each time.\n\n"
            + "\n".join(steps) + f"\n\nSo the {direction} order is {', '.join(order)}. Written as a list of strings, "
            f"that is {gold}.")


def number_filtering(meta: dict, gold: str) -> tuple[str, str]:
    numbers, bound, operation = meta["original_numbers"], meta["filter_value"], meta["operation"]
    action, side = operation.split("_")  # keep|remove, larger|smaller
    kept = lambda n: (float(n) > float(bound) if side == "larger" else float(n) < float(bound)) == (action == "keep")
    marks = [f"{n} {'keep' if kept(n) else 'remove'}" for n in numbers]
    assert [n for n in numbers if kept(n)] == meta["result"], (meta, gold)
    reasons = [f"{n} is {'larger' if float(n) > float(bound) else 'smaller' if float(n) < float(bound) else 'equal to'}"
               f"{'' if float(n) == float(bound) else ' than'} {bound}, so we {'keep' if kept(n) else 'remove'} it." for n in numbers]
    return (f"{action} {side} than {bound}: {', '.join(marks)}",
            f"Let's check each number against {bound}: we {action} the numbers {side} than {bound} and "
            f"{'remove' if action == 'keep' else 'keep'} the rest.\n\n" + "\n".join(reasons)
            + f"\n\nThe numbers left, in their original order and format: {gold}.")


def word_sorting(meta: dict, gold: str) -> tuple[str, str]:
    words, order, direction = meta["transformed_words"], meta["sorted_words"], meta["direction"]
    pick = "first" if direction == "ascending" else "last"
    steps = _selection_steps(words, order, str, f"{pick} in alphabetical order", largest=direction == "descending")
    return (f"words: {', '.join(words)}\n{direction}: {_chain(order, order, direction)}",
            f"Let's sort the words {', '.join(words)} in {direction} order. All of them are lowercase, so ASCII order is "
            f"alphabetical order, and we pick the word that comes {pick} each time.\n\n" + "\n".join(steps)
            + f"\n\nSo the {direction} order is \"{gold}\".")


@functools.cache
def generated(name: str):
    """The task's reasoning-gym dataset, as build reads it (indexable: entry i depends only on the seed and i)."""
    return reasoning_gym.create_dataset(name, size=(N_TRAIN + N_TEST) * 20, seed=1, **TASKS[name][0])


def family_relationships(meta: dict, gold: str) -> tuple[str, str]:
    # the metadata names the two people and the relation only; the story is in the question, regenerated here
    story = generated("family_relationships")[meta["source_index"]]["question"].split("\n\n")[0]
    spouse, parents, couple = {}, {}, None
    for m in re.finditer(r"(\w+) is married to (\w+)\.|They have (?:a child|children) called ([^.]+)\.", story):
        if m.group(1):
            couple = (m.group(1), m.group(2))
            spouse |= {couple[0]: couple[1], couple[1]: couple[0]}
        else:
            for child in re.split(r", | and ", m.group(3)):
                parents[child] = couple
    p1, p2 = meta["person1"], meta["person2"]

    def child_of(c: str) -> str:
        return f"{c} is a child of {parents[c][0]} and {parents[c][1]}."

    if p1 in parents.get(p2, ()):
        facts, why = [child_of(p2)], f"{p1} is one of {p2}'s parents"
    elif p2 in parents.get(p1, ()):
        facts, why = [child_of(p1)], f"{p1} is one of {p2}'s children"
    elif spouse.get(p1) == p2:
        facts, why = [f"{p1} is married to {p2}."], f"{p1} is {p2}'s spouse"
    else:
        middle = next(x for x in parents.get(p2, ()) if p1 in parents.get(x, ()))
        facts, why = [child_of(p2), child_of(middle)], f"{p1} is a parent of {p2}'s parent {middle}"
    return ("\n".join(facts + [f"So {p1} is {p2}'s {gold}."]),
            f"Let's find how {p1} and {p2} are connected in the family description.\n\n"
            + "\n".join(f"Step {i}: the story tells us that {f}" for i, f in enumerate(facts, start=1))
            + f"\n\nThis means that {why}, which makes {p1} {p2}'s {gold}.\n\nTherefore, {p1} is {p2}'s {gold}.")


def caesar_cipher(meta: dict, gold: str) -> tuple[str, str]:
    shift = meta["rotation"]

    def back(c: str) -> str:
        return chr((ord(c) - ord("A") - shift) % 26 + ord("A"))

    words, terse, wordy = meta["cipher_text"].split(), [], []
    for word in words:
        plain = "".join(back(c) for c in word)
        terse.append(f"{word}: {', '.join(f'{c}->{back(c)}' for c in word)} = {plain}")
        wordy.append(f"The word {word}: " + ", ".join(f"{c} becomes {back(c)}" for c in word) + f", which gives {plain}.")
    assert " ".join(t.rsplit(" = ", 1)[1] for t in terse) == gold, (meta["cipher_text"], gold)
    return (f"shift each letter back {shift}\n" + "\n".join(terse),
            f"A Caesar cipher moves every letter the same number of places along the alphabet. Here each letter was "
            f"moved {shift} places forward, so we move each letter {shift} places back (before A comes Z again).\n\n"
            + "\n".join(wordy) + f"\n\nTherefore, the decrypted text is {gold}.")


def calendar_arithmetic(meta: dict, gold: str) -> tuple[str, str]:
    start, offset = date.fromisoformat(meta["start_date"]), meta["offset_days"]
    weeks, rest = divmod(abs(offset), 7)
    step = 1 if offset > 0 else -1
    walk = [(start + timedelta(days=step * i)).strftime("%A") for i in range(1, rest + 1)]
    day, sign = start.strftime("%A"), "+" if offset > 0 else "-"
    assert (walk or [day])[-1] == gold == (start + timedelta(days=offset)).strftime("%A"), (meta, gold)
    n_weeks, n_rest = f"{weeks} week{'s' if weeks != 1 else ''}", f"{rest} day{'s' if rest != 1 else ''}"
    direction = "forward" if offset > 0 else "back"
    count = (f"Counting {n_rest} {direction} from {day}: {', '.join(walk)}."
             if rest else f"There are no days left over, so the weekday is {day} again.")
    return (f"{abs(offset)} days = {n_weeks} + {n_rest}\n{day} {sign} {n_rest}: {', '.join(walk) if walk else day}",
            f"Let's work out the weekday step by step.\n\nThe starting day is a {day}, and we go {abs(offset)} days "
            f"{direction}. The weekday repeats every 7 days, so full weeks do not change it.\n\n"
            f"{abs(offset)} days is {n_weeks} and {n_rest}.\n\n{count}\n\nTherefore, the day is {gold}.")


AIW_QUESTION = re.compile(r"^(\w+) has (\d+) (brothers|male friends) and she also has (\d+) (sisters|female friends)\.")


def aiw(meta: dict, gold: str) -> tuple[str, str]:
    # the metadata holds no counts; they are in the question, regenerated here
    question = generated("aiw")[meta["source_index"]]["question"]
    name, _, _, count, kind = AIW_QUESTION.match(question).groups()
    assert int(count) + 1 == int(gold), (question, gold)
    if kind == "sisters":
        who, what, why = f"{name}'s brother", "sisters", f"{name}'s sisters are his sisters, and {name} is his sister too"
    else:
        who, what, why = (f"a male friend of {name}", "female friends",
                          f"everyone is friends with everyone else, so {name}'s female friends are his, and {name} is one too")
    return (f"{what} of {who}: {count} + {name} = {count} + 1 = {gold}",
            f"Let's think about who counts.\n\n{name} has {count} {what}. {why[0].upper() + why[1:]}.\n\n"
            f"So {who} has {count} + 1 = {gold} {what}.")


def asks_her_family(entry: dict) -> bool:
    """aiw: the sibling and friend questions about the woman named first. Left out: "How many sisters does
    William's brother have?" after "Patricia has ...", which never says William is her brother (the generator
    answers as if he were), and the colleagues questions, whose answer ignores the other circle's women."""
    match = AIW_QUESTION.match(entry["question"])
    return match is not None and (match.group(5) != "sisters" or f"does {match.group(1)}'s brother have" in entry["question"])


def no_zero(entry: dict) -> bool:
    """products: drop a factor 0, which makes every such product 0 (the test set's most common answer otherwise)."""
    return all(int(t) != 0 for t in entry["metadata"]["expression"].split(" * "))


def short_words(entry: dict) -> bool:
    """word_sequence_reversal: words of at most 6 characters (the source text also has words like "unenforceability")."""
    return all(len(w) <= 6 for w in entry["metadata"]["words"])


def short_text(entry: dict) -> bool:
    """caesar_cipher: at most 8 characters of text to decrypt."""
    return len(entry["metadata"]["clear_text"]) <= 8


def no_in_law(entry: dict) -> bool:
    """family_relationships: drop the in-law questions, whose gold is reversed (for "What is Sarah to Elizabeth?",
    Sarah being Elizabeth's son's wife, the generator answers "mother-in-law"): a wrong label to train or test on."""
    return not entry["answer"].endswith("-in-law")


# name -> (generator config, solution writer, prompt template, which generated questions to keep)
TASKS: dict[str, tuple[dict, Callable[[dict, str], tuple[str, str]], str, Callable[[dict], bool] | None]] = {
    "chain_sum": (dict(min_terms=2, max_terms=3, min_digits=1, max_digits=1), chain_sum, NUMBER_PROMPT, None),
    "leg_counting": (dict(min_animals=1, max_animals=2, min_instances=1, max_instances=3), leg_counting, PROMPT, None),
    "count_bits": (dict(min_n=1, max_n=2047), count_bits, PROMPT, None),
    "letter_counting": (dict(min_words=1, max_words=3), letter_counting, PROMPT, None),
    "products": (dict(min_terms=3, max_terms=3, min_digits=1, max_digits=1), products, NUMBER_PROMPT, no_zero),
    "basic_arithmetic": (dict(min_terms=2, max_terms=3, min_digits=1, max_digits=1), basic_arithmetic, NUMBER_PROMPT, None),
    "spell_backward": (dict(min_word_len=3, max_word_len=5), spell_backward, PROMPT, None),
    "simple_equations": (dict(min_terms=2, max_terms=2, min_value=1, max_value=9), simple_equations, NUMBER_PROMPT, None),
    "word_sequence_reversal": (dict(min_words=3, max_words=5), word_sequence_reversal, PROMPT, short_words),
    "number_sorting": (dict(min_numbers=3, max_numbers=5, min_decimals=0, max_decimals=0, min_value=0, max_value=99),
                       number_sorting, PROMPT, None),
    "number_filtering": (dict(min_numbers=3, max_numbers=5, min_decimals=0, max_decimals=0, min_value=0, max_value=99),
                         number_filtering, PROMPT, None),
    "word_sorting": (dict(min_words=3, max_words=5, min_word_length=3, max_word_length=6,
                          transformation=TextTransformation.LOWERCASE), word_sorting, PROMPT, None),
    "family_relationships": (dict(min_family_size=4, max_family_size=5), family_relationships, PROMPT, no_in_law),
    # the source text split at spaces: one word (two where a line break joins them); the classical shift of 3 every time
    "caesar_cipher": (dict(delimiter=" ", min_words=1, max_words=2, min_rotation=3, max_rotation=3), caesar_cipher,
                      PROMPT, short_text),
    "calendar_arithmetic": (dict(tasks=["weekday_offset"], offset_upper_bound=20), calendar_arithmetic, PROMPT, None),
    "aiw": (dict(task_types=[TaskType.SIBLINGS, TaskType.FRIENDS], task_type_weights=[0.5, 0.5]), aiw, NUMBER_PROMPT,
            asks_her_family),
}


def build(name: str) -> Path:
    _, solve, prompt, keep = TASKS[name]
    rows, seen = [], set()
    for entry in generated(name):
        if entry["question"] not in seen and (keep is None or keep(entry)):
            seen.add(entry["question"])
            rows.append(entry)
        if len(rows) == N_TRAIN + N_TEST:
            break
    else:
        raise SystemExit(f"{name}: only {len(rows)} distinct questions")
    folder = OUT / name

    def row(i: int, e: dict, split: str) -> dict:
        out = {"id": f"{split}-{i}", "question": e["question"], "gold": str(e["answer"]), "metadata": e["metadata"]}
        if split == "train":
            terse, wordy = solve(e["metadata"], str(e["answer"]))
            out["metadata"] = e["metadata"] | {"solution": f"{terse}\nFinal Answer: {e['answer']}",
                                               "verbose_solution": f"{wordy}\n\nFinal Answer: {e['answer']}"}
        return out

    train = [row(i, e, "train") for i, e in enumerate(rows[:N_TRAIN])]
    verifier = get_verifier("reasoning_gym")
    for r in train:  # a solution the task's own verifier rejects would be a wrong training target
        for field in ("solution", "verbose_solution"):
            if not check(verifier, r["metadata"][field], r["gold"], r["metadata"]).correct:
                raise SystemExit(f"{name} {r['id']}: the {field} does not verify")
    write_jsonl(folder / "train.jsonl", train)
    write_jsonl(folder / "test.jsonl", [row(i, e, "test") for i, e in enumerate(rows[N_TRAIN:])])
    spec = {"name": name, "verifier": "reasoning_gym", "prompt_template": prompt, "train": "train.jsonl", "test": "test.jsonl"}
    write_atomic(folder / "task.json", json.dumps(spec, indent=2) + "\n")
    return folder


if __name__ == "__main__":
    import sys

    for name in sys.argv[1:] or TASKS:
        print("wrote", build(name))
