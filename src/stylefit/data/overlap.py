"""How many of the strategies are really different: identical and near-identical responses per pair.

Two strategies that write the same response to most questions are one strategy under two names;
a rank correlation over them counts it twice. ``strategy_overlap`` measures, for every pair, the
share of questions answered identically (whitespace aside) and near-identically (character-level
similarity of at least ``NEAR``), and groups strategies whose near-identical share reaches
``SAME``: the number of groups is the effective number of distinct strategies.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import combinations
from pathlib import Path

from stylefit.data.jsonl import read_jsonl

NEAR = 0.9  # character-level similarity (difflib ratio) at which two responses are near-identical
SAME = 0.9  # share of near-identical responses at which two strategies count as one
SHOWN = 0.5  # share past which a pair is named in reports, one strategy or not


@dataclass(frozen=True)
class PairOverlap:
    a: str
    b: str
    identical: float  # share of questions with the same response, whitespace aside
    near_identical: float  # share with similarity >= NEAR (identical included)


@dataclass(frozen=True)
class Overlap:
    n: int  # questions compared
    pairs: list[PairOverlap]  # every pair, in the strategies' order
    groups: list[list[str]]  # strategies that count as one (near-identical share >= SAME), each group in order

    @property
    def distinct(self) -> int:
        """The effective number of distinct strategies."""
        return len(self.groups)

    def lines(self) -> list[str]:
        """What a report says: the effective count, and every pair that shares most of its responses."""
        same = [p for p in self.pairs if p.near_identical >= SHOWN]
        text = [f"{self.distinct} distinct strategies of {sum(map(len, self.groups))} (pairs near-identical on >= "
                f"{SAME:.0%} of {self.n} questions count as one; pairs past {SHOWN:.0%} listed)"]
        text += [f"{p.a} and {p.b}: {100 * p.identical:.0f}% identical, {100 * p.near_identical:.0f}% near-identical"
                 for p in same]
        return text

    def to_dict(self) -> dict:
        """Everything, with the report's lines as ``summary``."""
        return {"n": self.n, "distinct": self.distinct, "groups": self.groups, "near": NEAR, "same": SAME,
                "pairs": [vars(p) for p in self.pairs], "summary": self.lines()}


def file_responses(folder: Path, strategies: list[str]) -> dict[str, list[str]]:
    """Each strategy's responses from ``<folder>/<strategy>.jsonl``, in file order."""
    return {s: [row["response"] for _, row in read_jsonl(folder / f"{s}.jsonl")] for s in strategies}


def _norm(text: str) -> str:
    return " ".join(text.split())


def shares(xs: list[str], ys: list[str]) -> tuple[float, float]:
    """(identical, near-identical) shares of two equally long lists of responses, paired by position."""
    if len(xs) != len(ys) or not xs:
        raise ValueError(f"need two equally long, non-empty lists of responses, got {len(xs)} and {len(ys)}")
    same = near = 0
    for x, y in zip(map(_norm, xs), map(_norm, ys)):
        if x == y:
            same, near = same + 1, near + 1
        else:
            matcher = SequenceMatcher(None, x, y, autojunk=False)
            near += matcher.real_quick_ratio() >= NEAR and matcher.quick_ratio() >= NEAR and matcher.ratio() >= NEAR
    return same / len(xs), near / len(xs)


def strategy_overlap(responses: dict[str, list[str]]) -> Overlap:
    """``responses``: strategy -> its responses, one per question, the same questions in the same order."""
    names = list(responses)
    lengths = {len(r) for r in responses.values()}
    if len(lengths) != 1:
        raise ValueError(f"strategies answer different numbers of questions: {sorted(lengths)}")
    pairs = [PairOverlap(a, b, *shares(responses[a], responses[b])) for a, b in combinations(names, 2)]
    group = {s: s for s in names}  # union-find over pairs that count as one

    def root(s: str) -> str:
        while group[s] != s:
            s = group[s]
        return s

    for p in pairs:
        if p.near_identical >= SAME:
            group[root(p.b)] = root(p.a)
    groups: dict[str, list[str]] = {}
    for s in names:
        groups.setdefault(root(s), []).append(s)
    return Overlap(lengths.pop(), pairs, list(groups.values()))
