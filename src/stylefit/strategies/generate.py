"""``stylefit generate``: write training targets for a task's questions with named strategies.

For every strategy and question: render the recipe's prompt (with worked examples, the target's
own answer or its own correct answers where the recipe asks for them), let the teacher answer in
its own chat template, check the answer with the task's verifier, generate a wrong one again up to
``retries`` times (sampling, so that a retry can differ), and, where the recipe says so, put the
gold final answer in place of a final answer that stayed wrong. Every generation goes through the
cache, so a killed run resumes and a rerun computes nothing. Out come one ``<strategy>.jsonl`` per
strategy (the format ``select`` reads, plus ``correct``/``tries``/``fixed``) and a manifest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stylefit.data.jsonl import write_atomic, write_jsonl
from stylefit.data.task import Question, Task, load_task
from stylefit.data.verifiers import FINAL_ANSWER_MARKER, check
from stylefit.errors import StylefitError
from stylefit.generation import generate_cached, zero_shot_answers
from stylefit.models.base import GenerationSpec, LanguageModel
from stylefit.models.registry import DEFAULT_MODEL
from stylefit.prompts import own_template, render_prompt
from stylefit.scoring.exemplars import build_self_exemplars
from stylefit.store import Store
from stylefit.strategies.library import get_strategy, strategy_library
from stylefit.strategies.recipe import Strategy

StageProgress = Callable[[str, int, int], None]
# The target's own answers (for minimum change, paraphrase and self-style) are greedy, as SPPL's.
TARGET_SPEC = GenerationSpec(max_new_tokens=256)


def with_gold_answer(text: str, gold: str) -> str:
    """The response with its last final-answer line saying the gold answer (and nothing after it);
    a response without one gets the line appended."""
    matches = list(FINAL_ANSWER_MARKER.finditer(text))
    if not matches:
        return text.rstrip() + f"\nFinal Answer: {gold}"
    last = matches[-1]
    return text[: last.start()] + f"Final Answer: {gold}"


@dataclass
class StrategyReport:
    strategy: str
    kind: str
    teacher: str | None
    teacher_revision: str | None
    recipe: dict[str, Any]
    n: int
    correct_first_try: int
    correct: int  # after retries
    still_wrong: int  # wrong after every try (written as is, or fixed where the recipe says so)
    fixed: int  # final answer replaced by the gold one
    tries: int  # generations asked for, retries included
    hit_length_limit: int
    generated_tokens: int  # in this run (0 when everything came from the cache)
    seconds: float
    notes: list[str] = field(default_factory=list)
    example_prompt: str | None = None  # the first question's prompt to the teacher, as the recipe filled it


@dataclass
class GenerateResult:
    task: str
    out: str
    target: str
    ids: list[str]
    strategies: list[StrategyReport]
    computed: int  # generations computed in this run (the rest came from the cache)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Models:
    """Teachers loaded once each; 'target' is the target itself."""

    def __init__(self, target: str | LanguageModel, load: Callable[[str], LanguageModel]):
        self._load, self._target = load, target
        self._loaded: dict[str, LanguageModel] = {}

    def get(self, name: str) -> LanguageModel:
        if name == "target" and not isinstance(self._target, str):
            return self._target
        name = self._target if name == "target" else name
        if name not in self._loaded:
            self._loaded[name] = self._load(name)
        return self._loaded[name]


def generate(
    task: Task | str | Path,
    strategies: list[str],
    *,
    out: str | Path,
    n: int | None = None,
    target: str | LanguageModel = DEFAULT_MODEL,
    recipes: list[str | Path] = (),
    store: Store | str | Path | None = None,
    retry_temperature: float = 0.7,
    own_answers_m: int = 100,
    device: str = "auto",
    dtype: str = "auto",
    token_budget: int | None = None,
    load_model: Callable[[str], LanguageModel] | None = None,
    progress: StageProgress | None = None,
) -> GenerateResult:
    """Generate the first ``n`` training questions' targets (default all) with each strategy into ``out``.

    ``target`` is the model being fine-tuned: minimum change, paraphrase and self-style rewrites
    start from its own answers (self-style: its correct answers among the first ``own_answers_m``
    training questions, as SPPL's exemplars). ``recipes``: TOML files of extra recipes. ``retry_temperature``:
    the sampling temperature of retries (a greedy teacher would repeat itself). ``load_model``
    maps a teacher name to a loaded model (default: the transformers backend).
    """
    task = task if isinstance(task, Task) else load_task(task)
    library = strategy_library(*recipes)
    chosen = [get_strategy(name, library) for name in strategies]
    if not chosen or len(set(strategies)) != len(strategies):
        raise StylefitError(f"strategies must be distinct and at least one, got {strategies}")
    n = len(task.train) if n is None else n
    if not 1 <= n <= len(task.train):
        raise StylefitError(f"n={n}, but task '{task.name}' has {len(task.train)} training questions")
    if own_answers_m < 2:
        raise StylefitError(f"own_answers_m must be at least 2, got {own_answers_m}")
    if retry_temperature <= 0:
        raise StylefitError(f"retry_temperature must be > 0 (a retry samples), got {retry_temperature}")
    _ = task.verifier  # a task without a verifier fails here, before any generation
    questions = task.train[:n]
    store = store if isinstance(store, Store) else Store(store)
    if load_model is None:
        from stylefit.models import load_model as load

        def load_model(name: str) -> LanguageModel:
            return load(name, device=device, dtype=dtype, token_budget=token_budget)

    models = _Models(target, load_model)
    out = Path(out)
    reports, computed = [], 0
    for strategy in chosen:
        t = time.perf_counter()
        before = store.misses
        rows, report = _generate_strategy(strategy, task, questions, models, store, retry_temperature, own_answers_m, progress)
        computed += store.misses - before
        report.seconds = round(time.perf_counter() - t, 2)
        write_jsonl(out / f"{strategy.name}.jsonl", rows)
        reports.append(report)
        result = GenerateResult(task.name, str(out), target if isinstance(target, str) else target.name,
                                [q.id for q in questions], reports, computed)
        write_atomic(out / "manifest.json", json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    return result


def _generate_strategy(strategy: Strategy, task: Task, questions: list[Question], models: _Models, store: Store,
                       retry_temperature: float, own_answers_m: int, progress: StageProgress | None):
    label = f"strategy '{strategy.name}'"
    report = StrategyReport(strategy.name, strategy.kind, strategy.teacher, None, strategy.model_dump(mode="json"),
                            len(questions), 0, 0, 0, 0, 0, 0, 0, 0.0)
    if strategy.kind in ("gold", "answer_only"):
        texts = [_gold_text(strategy, q, label) for q in questions]
        rows = []
        for q, text in zip(questions, texts):
            ok = check(task.verifier, text, q.gold, q.metadata).correct
            if not ok:  # the gold itself does not verify: the task's data or verifier is off
                raise StylefitError(f"{label} id '{q.id}': the gold response does not pass the task's verifier")
            rows.append({"id": q.id, "response": text, "correct": True, "tries": 0, "fixed": False})
        report.correct_first_try = report.correct = len(rows)
        return rows, report

    teacher = models.get(strategy.teacher)
    report.teacher_revision = teacher.revision
    prompts = _teacher_prompts(strategy, task, questions, models, store, report, own_answers_m, progress)
    report.example_prompt = prompts[0]
    rendered = [render_prompt(teacher, own_template(teacher), p) for p in prompts]
    stage = f"{strategy.name}: {teacher.name}"
    answers: dict[int, Any] = {}
    pending = list(range(len(questions)))
    tokens_before = getattr(teacher, "stats", {}).get("generated_tokens", 0)
    for attempt in range(strategy.retries + 1):
        sampled = attempt > 0 or strategy.temperature > 0
        spec = GenerationSpec(max_new_tokens=strategy.max_new_tokens, top_p=strategy.top_p if sampled else 1.0,
                              temperature=max(strategy.temperature, retry_temperature) if attempt else strategy.temperature,
                              seed=strategy.seed)
        if progress:
            progress(f"{stage} (try {attempt + 1})", len(pending), 0)
        step = (lambda k, s=f"{stage} (try {attempt + 1})", total=len(pending): progress(s, total, k)) if progress else None
        generations = generate_cached(teacher, [rendered[i] for i in pending], spec, store, step,
                                      sample_index=[attempt] * len(pending))
        report.tries += len(pending)
        still = []
        for i, g in zip(pending, generations):
            q = questions[i]
            ok = bool(g.text.strip()) and check(task.verifier, g.text, q.gold, q.metadata).correct
            answers[i] = (g, ok, attempt + 1)
            report.hit_length_limit += g.finish_reason == "length"
            if ok and attempt == 0:
                report.correct_first_try += 1
            if not ok:
                still.append(i)
        pending = still
        if not pending:
            break
    report.generated_tokens = getattr(teacher, "stats", {}).get("generated_tokens", 0) - tokens_before
    rows = []
    for i, q in enumerate(questions):
        g, ok, tries = answers[i]
        text, fixed = g.text.strip(), False
        if not ok:
            report.still_wrong += 1
            if strategy.fix_final_answer:
                text, fixed = with_gold_answer(text, q.gold), True
                report.fixed += 1
            elif not text:
                raise StylefitError(f"{label} id '{q.id}': empty response after {tries} tries; nothing is written as if it were an answer")
        report.correct += ok
        rows.append({"id": q.id, "response": text, "correct": ok, "tries": tries, "fixed": fixed})
    if report.still_wrong:
        action = "final answer set to gold" if strategy.fix_final_answer else "kept as written, flagged correct=false"
        report.notes.append(f"{report.still_wrong}/{len(questions)} responses wrong after {strategy.retries + 1} tries: {action}")
    return rows, report


def _gold_text(strategy: Strategy, q: Question, label: str) -> str:
    return f"Final Answer: {q.gold}" if strategy.kind == "answer_only" else _human_solution(q, label)


def _human_solution(q: Question, label: str) -> str:
    """The question's human solution (``metadata.solution``), ending with its final answer."""
    solution = q.metadata.get("solution")
    if not isinstance(solution, str) or not solution.strip():
        raise StylefitError(f"{label} id '{q.id}': the gold strategy needs a human solution in the question's "
                            "metadata (\"solution\"); the task gives only the gold label")
    return solution.strip() if FINAL_ANSWER_MARKER.search(solution) else with_gold_answer(solution.strip(), q.gold)


def _teacher_prompts(strategy: Strategy, task: Task, questions: list[Question], models: _Models, store: Store,
                     report: StrategyReport, own_answers_m: int, progress: StageProgress | None) -> list[str]:
    """The recipe's prompt for every question, with what it asks for filled in."""
    examples: list[tuple[str, str, str]] = []
    if strategy.examples != "none":
        examples = _worked_examples(strategy, task, questions, models, store, report)
    own: list[str | None] = [None] * len(questions)
    if strategy.kind in ("minimum_change", "paraphrase"):
        stage = (lambda k: progress("target's own answers", len(questions), k)) if progress else None
        if progress:
            progress("target's own answers", len(questions), 0)
        answers = zero_shot_answers(models.get("target"), task, questions, TARGET_SPEC, store, stage)
        own = [g.text.strip() or "(no answer)" for g in answers]
    own_answers: list[list[str]] = [[] for _ in questions]
    if strategy.kind == "self_style":
        target = models.get("target")
        exemplars = build_self_exemplars(target, task, own_answers_m, TARGET_SPEC, store)
        if not exemplars.filtered:
            raise StylefitError(f"strategy '{strategy.name}': none of the target's {exemplars.answered} zero-shot answers "
                                "is correct, so there is no style of its own to imitate")
        report.notes.append(f"self-style: {exemplars.correct}/{exemplars.answered} of the target's zero-shot answers correct")
        texts, ids = exemplars.texts, exemplars.question_ids
        short = 0
        for i, q in enumerate(questions):  # the next k in cyclic order, never the target's answer to this very question
            cycle = [(i + 1 + j) % len(texts) for j in range(len(texts))]
            own_answers[i] = [texts[j] for j in cycle if ids[j] != q.id][: strategy.k_own_answers]
            short += len(own_answers[i]) < strategy.k_own_answers
        if short:
            report.notes.append(f"self-style: {short}/{len(questions)} questions were shown fewer than "
                                f"k={strategy.k_own_answers} own answers (only {len(texts)} correct ones)")
    return [strategy.render(task.prompt(q), q.gold, examples=examples, answer=own[i], own_answers=own_answers[i])
            for i, q in enumerate(questions)]


def _worked_examples(strategy: Strategy, task: Task, questions: list[Question], models: _Models, store: Store,
                     report: StrategyReport) -> list[tuple[str, str, str]]:
    """Training questions outside the generated ones, with a solution: the human one, or the teacher's own answer."""
    generated = {q.id for q in questions}
    pool = [q for q in task.train if q.id not in generated][: strategy.n_examples]
    if len(pool) < strategy.n_examples:
        raise StylefitError(f"strategy '{strategy.name}' needs {strategy.n_examples} worked examples from training "
                            f"questions that are not generated; task '{task.name}' has {len(pool)} left")
    if strategy.examples == "human":
        label = f"strategy '{strategy.name}' (worked example)"
        return [(task.prompt(q), q.gold, _human_solution(q, label)) for q in pool]
    spec = GenerationSpec(max_new_tokens=strategy.max_new_tokens)
    answers = zero_shot_answers(models.get(strategy.teacher), task, pool, spec, store)
    wrong = sum(not check(task.verifier, g.text, q.gold, q.metadata).correct for q, g in zip(pool, answers))
    if wrong:
        report.notes.append(f"{wrong}/{len(pool)} of the teacher's own worked examples are wrong (shown as written)")
    return [(task.prompt(q), q.gold, g.text.strip()) for q, g in zip(pool, answers)]
