"""Runs a scorer over a sample of candidates through the cache: computes only what is missing,
commits every chunk (a killed run resumes), and refuses or counts over-long sequences."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from stylefit.data.candidates import CandidateSet
from stylefit.errors import StylefitError
from stylefit.models.base import LanguageModel, Progress
from stylefit.scoring.base import ExampleScore, Scorer, ScoringItem
from stylefit.store import Store, content_key

# All strategies of a block of this many questions (by position in the candidate set) are scored
# in one batch and committed together. Blocks are fixed, so a run resumed after a kill computes a
# block exactly as an uninterrupted run does: the same batch, the same bits.
QUESTIONS_PER_CHUNK = 8


@dataclass
class SampleScores:
    """Per-example scores of every strategy on the same questions (paired)."""

    ids: list[str]
    by_strategy: dict[str, list[ExampleScore]]
    skipped: dict[str, str] = field(default_factory=dict)  # question id -> why it was left out
    computed: int = 0  # per-example scores computed in this run (the rest came from the cache)


def score_sample(
    scorer: Scorer,
    lm: LanguageModel,
    candidates: CandidateSet,
    ids: list[str],
    store: Store,
    progress: Progress | None = None,
    skip_overlong: bool = False,
) -> SampleScores:
    items = [ScoringItem(candidates.by_strategy[s][qid], candidates.position(qid)) for qid in ids for s in candidates.strategies]
    requests = [scorer.requests(lm, item) for item in items]
    base = {"kind": "score", "model": lm.revision, "template": lm.template_id, "scorer": scorer.name,
            "version": scorer.version, "params": scorer.params()}
    if scorer.needs_logprobs:  # token counts do not depend on the floating-point type; log-probabilities do
        base["dtype"] = lm.dtype
    keys = [
        content_key(base | {"requests": [[r.context, r.continuation, r.special_tokens] for r in reqs]} | scorer.cache_parts(item))
        for item, reqs in zip(items, requests)
    ]
    found = store.get_many(keys)
    if progress:
        progress(sum(k in found for k in keys))

    # Over-long sequences: an error naming the item, or (if asked) the whole question is dropped
    # for every strategy, so that the comparison stays paired.
    skipped: dict[str, str] = {}
    missing = [i for i, k in enumerate(keys) if k not in found]
    for i in missing:
        for count in lm.count_tokens(requests[i]):
            if lm.max_length is not None and count.total > lm.max_length:  # a server enforces its own (an error naming the item)
                reason = f"{count.total} tokens > context {lm.max_length}"
                if not skip_overlong:
                    raise StylefitError(
                        f"{items[i].label}: {reason}; nothing is truncated (pass --skip-overlong to drop such questions, counted)"
                    )
                skipped.setdefault(items[i].candidate.id, f"{items[i].label}: {reason}")
    todo = [i for i in missing if items[i].candidate.id not in skipped]

    by_question: dict[int, list[int]] = defaultdict(list)
    for i in todo:
        by_question[items[i].position].append(i)
    blocks: dict[int, list[int]] = defaultdict(list)
    for p in sorted(by_question):
        blocks[p // QUESTIONS_PER_CHUNK].append(p)
    in_blocks = [[i for p in blocks[b] for i in by_question[p]] for b in sorted(blocks)]
    chunks = {content_key({"unit": "score-block", "keys": [keys[i] for i in chunk]}): chunk for chunk in in_blocks}

    def compute(unit: str) -> None:
        chunk = chunks[unit]
        scores = scorer.compute(lm, [items[i] for i in chunk], [requests[i] for i in chunk])
        fresh = {keys[i]: score.__dict__ for i, score in zip(chunk, scores)}
        store.put_many("score", fresh)
        found.update(fresh)
        if progress:
            progress(len(chunk))

    def computed_elsewhere(unit: str) -> None:  # by another process sharing the store
        found.update(store.get_many([keys[i] for i in chunks[unit]]))
        if progress:
            progress(len(chunks[unit]))

    written_before = store.written["score"]
    store.compute_claimed({u: [keys[i] for i in c] for u, c in chunks.items()}, compute, computed_elsewhere)
    if progress and skipped:
        progress(sum(1 for i in missing if items[i].candidate.id in skipped))

    kept = [qid for qid in ids if qid not in skipped]
    by_strategy: dict[str, list[ExampleScore]] = {s: [] for s in candidates.strategies}
    for item, key in zip(items, keys):
        if item.candidate.id not in skipped:
            by_strategy[item.candidate.strategy].append(ExampleScore(**_from_store(found[key])))
    return SampleScores(kept, by_strategy, skipped, computed=store.written["score"] - written_before)


def _from_store(entry: dict) -> dict:
    """JSON turns the parts tuple into a list; ExampleScore is hashable and frozen, so restore it."""
    return entry | {"parts": tuple(entry["parts"])} if entry.get("parts") is not None else entry
