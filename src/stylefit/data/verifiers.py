"""Verifiers: extract a model's final answer and check it against the gold label.

Every verifier reports the *strict* reading (the answer after the last "Final Answer:" marker,
or GSM8K's "#### N") and a *flexible* one (for numbers: the last number in the text), because
extraction errors masquerade as accuracy differences: both are kept and reported.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Protocol

from stylefit.core.errors import StylefitError

FINAL_ANSWER_MARKER = re.compile(r"final\s+answer\s*(?:is)?\s*[:：]?", re.IGNORECASE)
_HASHES = re.compile(r"####\s*")
# A number with optional sign, thousands separators and decimals; also "-.5".
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+")


@dataclass(frozen=True)
class Verdict:
    correct: bool
    extracted: str | None  # what was compared with the gold label; None = nothing found
    strict: bool  # True where the answer came from an explicit marker


class Verifier(Protocol):
    name: str

    def extract(self, text: str, strict: bool) -> str | None: ...

    def matches(self, extracted: str, gold: str, metadata: dict[str, Any]) -> bool: ...


def after_marker(text: str) -> str | None:
    """The text after the last "Final Answer:" (or "####") marker, up to the end of its line."""
    last = None
    for pattern in (FINAL_ANSWER_MARKER, _HASHES):
        for m in pattern.finditer(text):
            if last is None or m.end() > last:
                last = m.end()
    if last is None:
        return None
    tail = text[last:].strip()
    line = tail.splitlines()[0].strip() if tail else ""
    return line or None


def parse_number(text: str) -> float | None:
    """The first number in text, ignoring $, commas, units and a trailing period."""
    m = _NUMBER.search(text.replace("$", ""))
    if m is None:
        return None
    try:
        return float(m.group(0).replace(",", ""))
    except ValueError:
        return None


def check(verifier: Verifier, text: str, gold: str, metadata: dict[str, Any] | None = None, *, strict: bool = True) -> Verdict:
    """Extract and compare; flexible mode tries the strict reading first."""
    metadata = metadata or {}
    extracted = verifier.extract(text, strict=True)
    used_strict = extracted is not None
    if extracted is None and not strict:
        extracted = verifier.extract(text, strict=False)
    correct = extracted is not None and verifier.matches(extracted, gold, metadata)
    return Verdict(correct, extracted, used_strict)


class FinalAnswerNumber:
    """Numeric answers, GSM8K style: 'Final Answer: $1,234.', '#### 1234', '12 apples'."""

    name = "final_answer_number"

    def extract(self, text: str, strict: bool) -> str | None:
        if strict:
            tail = after_marker(text)
            if tail is None:
                return None
            number = parse_number(tail)
            return None if number is None else _format_number(number)
        numbers = _NUMBER.findall(text.replace("$", ""))
        for raw in reversed(numbers):
            number = parse_number(raw)
            if number is not None:
                return _format_number(number)
        return None

    def matches(self, extracted: str, gold: str, metadata: dict[str, Any]) -> bool:
        a, b = parse_number(extracted), parse_number(gold)
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _format_number(x: float) -> str:
    return str(int(x)) if x.is_integer() else repr(x)


class MultipleChoice:
    """A single option letter: 'Final Answer: (B)', 'B)', 'b.', 'Answer: B'."""

    name = "multiple_choice"
    _LETTER = re.compile(r"\(?\b([A-Za-z])\b\)?")

    def extract(self, text: str, strict: bool) -> str | None:
        source = after_marker(text)
        if source is None and not strict:
            m = list(re.finditer(r"answer\s*(?:is)?\s*[:：]?\s*\(?([A-Za-z])\b", text, re.IGNORECASE))
            return m[-1].group(1).upper() if m else None
        if source is None:
            return None
        m = self._LETTER.match(source.strip())
        return m.group(1).upper() if m else None

    def matches(self, extracted: str, gold: str, metadata: dict[str, Any]) -> bool:
        return extracted.strip().upper() == gold.strip().strip("()").upper()


class ExactString:
    """The answer string after the marker equals the gold label (case-insensitive, outer whitespace,
    quotes and a trailing period ignored)."""

    name = "exact"

    def extract(self, text: str, strict: bool) -> str | None:
        tail = after_marker(text)
        if tail is None and not strict:
            lines = [line for line in text.strip().splitlines() if line.strip()]
            tail = lines[-1] if lines else None
        return tail

    def matches(self, extracted: str, gold: str, metadata: dict[str, Any]) -> bool:
        return _normalize(extracted) == _normalize(gold)


def _normalize(s: str) -> str:
    return " ".join(s.strip().rstrip(".").strip("\"'`").rstrip(".").split()).casefold()


class ReasoningGym:
    """reasoning-gym's own ``score_answer`` for the dataset named in the item's metadata
    (``metadata.source_dataset``); correct means a full score of 1.0."""

    name = "reasoning_gym"

    def extract(self, text: str, strict: bool) -> str | None:
        return ExactString().extract(text, strict)

    def matches(self, extracted: str, gold: str, metadata: dict[str, Any]) -> bool:
        import reasoning_gym

        dataset = metadata.get("source_dataset")
        if not dataset:
            raise StylefitError("verifier 'reasoning_gym' needs metadata.source_dataset on every question")
        score_fn = reasoning_gym.get_score_answer_fn(dataset)
        entry = {"answer": gold, "metadata": metadata}
        return float(score_fn(answer=extracted, entry=entry)) >= 1.0


_VERIFIERS: dict[str, Verifier] = {
    v.name: v for v in (FinalAnswerNumber(), MultipleChoice(), ExactString(), ReasoningGym())
}


def verifier_names() -> list[str]:
    return sorted(_VERIFIERS)


def get_verifier(name: str) -> Verifier:
    try:
        return _VERIFIERS[name]
    except KeyError:
        raise StylefitError(f"unknown verifier '{name}' (known: {', '.join(verifier_names())})") from None
