import json
from pathlib import Path

import pytest

from stylefit.core.errors import StylefitError
from stylefit.data.verifiers import check, get_verifier

CASES = json.loads((Path(__file__).parent / "cases" / "verifiers.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[f"{c['verifier']}:{c['text'][:30]}" for c in CASES])
def test_verifier_case(case):
    verdict = check(get_verifier(case["verifier"]), case["text"], case["gold"], case.get("metadata"), strict=case["strict"])
    assert verdict.correct is case["correct"]
    assert verdict.extracted == case["extracted"]


def test_unknown_verifier_is_a_clear_error():
    with pytest.raises(StylefitError, match="unknown verifier 'nope'"):
        get_verifier("nope")


def test_reasoning_gym_needs_its_dataset_name():
    with pytest.raises(StylefitError, match="source_dataset"):
        check(get_verifier("reasoning_gym"), "Final Answer: 3", "3", {})
