"""``stylefit generate``: write training targets for a task's questions with named strategies.

For every strategy and question: render the recipe's prompt (with worked examples, the target's
own answer or its own correct answers where the recipe asks for them), let the teacher answer in
its own chat template, check the answer with the task's verifier, generate a wrong one again up to
``retries`` times (sampling, so that a retry can differ), and, where the recipe says so, put the
gold final answer in place of a final answer that stayed wrong. Every generation goes through the
cache as it is finished, so a killed run resumes and a rerun computes nothing; a generation that
fails for good (a server's retries ran out) stops the run with one line naming the strategy and the
question. Out come one ``<strategy>.jsonl`` per strategy (the format ``select`` reads, plus
``correct``/``tries``/``fixed``) and a manifest.
"""

from __future__ import annotations

import inspect
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from stylefit.core.errors import StylefitError
from stylefit.core.store import Store, content_key
from stylefit.data.candidates import ROUTED_PREFIX, load_candidates
from stylefit.data.jsonl import write_atomic, write_jsonl
from stylefit.data.task import Question, Task, load_task
from stylefit.data.verifiers import FINAL_ANSWER_MARKER, check
from stylefit.models.base import GenerationError, GenerationSpec, LanguageModel, Progress
from stylefit.models.prompts import own_template, render_prompt
from stylefit.models.registry import DEFAULT_MODEL
from stylefit.models.sampling import GENERATION_KIND, build_self_exemplars, generate_cached, zero_shot_answers
from stylefit.strategies.library import get_strategy, strategy_library
from stylefit.strategies.recipe import Strategy, placeholders

# progress(stage, total, advance): a stage starts with advance=0 and its total, then advances. A
# callback that also takes a keyword ``tokens`` gets, for stages that generate, the tokens the
# model generated in this stage so far (cached generations add none): tokens/s = tokens / elapsed.
StageProgress = Callable[..., None]
# The target's own answers (for minimum change, paraphrase and self-style) are greedy, as SPPL's.
TARGET_SPEC = GenerationSpec(max_new_tokens=256)
OWN_ANSWER_KINDS = ("minimum_change", "paraphrase", "self_style")  # recipes that start from the target's own answers


# What a final answer stated in passing ("the final answer is 8. Done.") says: up to its sentence's end.
_STATED = re.compile(r"(?P<answer>.*?)(?P<end>[.!?]?)(?=\s|$)(?P<rest>.*)", re.DOTALL)


def with_gold_answer(text: str, gold: str) -> str:
    """The response's final answer set to gold, changing as little of its wording as possible.

    A "Final Answer:" statement gets the gold answer, and whatever followed it goes. A final answer
    stated in passing ("so the final answer is 8.") keeps its sentence with the gold answer in it,
    and the line "Final Answer: <gold>" follows. A response with neither gets that line appended."""
    text = text.rstrip()
    matches = list(FINAL_ANSWER_MARKER.finditer(text))
    if not matches:
        return text + f"\nFinal Answer: {gold}"
    last = matches[-1]
    if last.group().rstrip().endswith((":", "：")):
        return text[: last.start()] + f"Final Answer: {gold}"
    line_end = text.find("\n", last.end())
    stated = _STATED.match(text[last.end() : len(text) if line_end < 0 else line_end].lstrip())
    gap = " " if not last.group().endswith((" ", "\t")) else ""
    return text[: last.end()] + gap + gold + stated.group("end") + f"\nFinal Answer: {gold}"


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
    tries: int  # generations asked for, retries and longer budgets included
    hit_length_limit: int  # generations cut by their budget (each try and each longer budget counted)
    generated_tokens: int  # in this run (0 when everything came from the cache)
    seconds: float  # of this run
    tokens: int = 0  # of every teacher generation the responses took, retries included, cached or not
    extended: int = 0  # generations asked again with a longer budget because the last one was cut
    truncated: int = 0  # responses still cut at the longest budget: written flagged, never fixed, counted in still_wrong
    notes: list[str] = field(default_factory=list)
    example_prompt: str | None = None  # the first question's prompt to the teacher, as the recipe filled it
    # Whether generating again without the cache would write the same responses, and why (the teacher's word).
    reproducible: bool = True
    reproducible_why: str = "written from the task's own data"


@dataclass
class GenerateResult:
    task: str
    out: str
    target: str
    ids: list[str]
    strategies: list[StrategyReport]
    computed: int  # generations computed in this run (the rest came from the cache or from files already written)
    retry_temperature: float = 0.7
    own_answers_m: int = 100
    task_hash: str = ""  # the prompt template and every training question: what the responses were written for
    overlap: dict[str, Any] = field(default_factory=dict)  # identical responses per pair, distinct strategies (data.overlap)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def manifest(self) -> str:
        """The manifest file: what the files hold, without this run's ``computed`` count, so that a
        resumed run that changes nothing leaves a committed manifest as it was."""
        return json.dumps({k: v for k, v in self.to_dict().items() if k != "computed"}, indent=2, ensure_ascii=False) + "\n"


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
    router: Callable[[str], Callable[..., Any]] | None = None,
) -> GenerateResult:
    """Generate the first ``n`` training questions' targets (default all) with each strategy into ``out``.

    ``target`` is the model being fine-tuned: minimum change, paraphrase and self-style rewrites
    start from its own answers (self-style: its correct answers among the first ``own_answers_m``
    training questions, as SPPL's exemplars). ``recipes``: TOML files of extra recipes. ``retry_temperature``:
    the sampling temperature of retries (a greedy teacher would repeat itself). ``load_model``
    maps a teacher name to a loaded model (default: the transformers backend).

    A strategy named ``routed:<scorer>`` is written last, by per-question routing between all the
    other strategies asked for: every question must then have a correct response in at least one of
    them. Routing scores, and scoring sits above strategies, so ``router(scorer)`` does it
    (``stylefit.selection.routing.router``, which ``stylefit.generate`` passes in): it checks the
    scorer and returns the function that routes.
    """
    task = task if isinstance(task, Task) else load_task(task)
    library = strategy_library(*recipes)
    routed = [name for name in strategies if name.startswith(ROUTED_PREFIX)]
    chosen = [get_strategy(name, library) for name in strategies if not name.startswith(ROUTED_PREFIX)]
    if not strategies or len(set(strategies)) != len(strategies):
        raise StylefitError(f"strategies must be distinct and at least one, got {strategies}")
    if routed and len(chosen) < 2:
        raise StylefitError(f"{routed[0]} routes between the other strategies asked for, and needs at least two")
    routes = {}
    for name in routed:  # an unknown scorer fails here, before any generation
        if router is None:
            raise StylefitError(f"{name}: routing needs a router (stylefit.generate passes stylefit.selection.routing.router)")
        routes[name] = router(name.removeprefix(ROUTED_PREFIX))
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
        from stylefit.models import SERVER_PREFIX, load_model as load

        def load_model(name: str) -> LanguageModel:  # device and precision are the local models'; a server sets its own
            local = not name.startswith(SERVER_PREFIX)
            return load(name, **(dict(device=device, dtype=dtype, token_budget=token_budget) if local else {}))

    models = _Models(target, load_model)
    out = Path(out)
    target_name = target if isinstance(target, str) else target.name
    ids = [q.id for q in questions]
    settings = {"retry_temperature": retry_temperature, "own_answers_m": own_answers_m, "task_hash": _task_hash(task)}
    written = _written(out, task.name, target_name, ids, settings)
    reports, computed = [], 0
    for strategy in chosen:
        report = written.get(strategy.name)
        if report is not None and report.recipe == strategy.fingerprint():
            reports.append(report)  # already written for exactly this request: kept, even where the cache is gone
        else:
            t = time.perf_counter()
            before = store.written[GENERATION_KIND]
            rows, report = _generate_strategy(strategy, task, questions, models, store, retry_temperature, own_answers_m, progress)
            computed += store.written[GENERATION_KIND] - before
            report.seconds = round(time.perf_counter() - t, 2)
            write_jsonl(out / f"{strategy.name}.jsonl", rows)
            reports.append(report)
        result = GenerateResult(task.name, str(out), target_name, ids, reports, computed, **settings)
        write_atomic(out / "manifest.json", result.manifest())
    overlap = _overlap(out, chosen, questions, reports) if len(chosen) > 1 else {}
    result = GenerateResult(task.name, str(out), target_name, ids, reports, computed, **settings, overlap=overlap)
    write_atomic(out / "manifest.json", result.manifest())
    for name in routed:
        recipe = {"scorer": name.removeprefix(ROUTED_PREFIX), "between": [s.name for s in chosen]}
        report = written.get(name)
        if report is None or report.recipe != recipe:
            t = time.perf_counter()
            report = _route(name, recipe, task, out, models, store, progress, routes[name])
            report.seconds = round(time.perf_counter() - t, 2)
        reports.append(report)
        result = GenerateResult(task.name, str(out), target_name, ids, reports, computed, **settings, overlap=overlap)
        write_atomic(out / "manifest.json", result.manifest())
    return result


def _overlap(out: Path, chosen: list[Strategy], questions: list[Question], reports: list[StrategyReport]) -> dict[str, Any]:
    """Which strategies wrote the same responses, and which teacher wrote bare answers (its prompt overridden,
    e.g. by a task instruction such as "give only the result"): noted on the reports."""
    from stylefit.data.overlap import SAME, file_responses, shares, strategy_overlap

    responses = file_responses(out, [s.name for s in chosen])
    bare = [f"Final Answer: {q.gold}" for q in questions]
    by_name = {r.strategy: r for r in reports}
    for s in chosen:
        if s.kind not in ("gold", "answer_only") and (share := shares(responses[s.name], bare)[1]) >= SAME:
            note = (f"{100 * share:.0f}% of its responses are the bare final answer: the task's own format instruction "
                    "likely overrides the recipe's prompt, so it is answer_only under another name")
            if note not in by_name[s.name].notes:  # a strategy kept from an earlier run has it already
                by_name[s.name].notes.append(note)
    return strategy_overlap(responses).to_dict()


def _route(name: str, recipe: dict, task: Task, out: Path, models: "_Models", store: Store, progress,
           route: Callable[..., Any]) -> StrategyReport:
    """The routed set, between the strategies already written into ``out`` (``route``: see ``generate``'s ``router``)."""
    candidates = load_candidates(task, [out / f"{s}.jsonl" for s in recipe["between"]])
    routed = route(task, candidates, target=models.get("target"), store=store, progress=progress)
    if routed.no_correct:
        raise StylefitError(f"{name}: {len(routed.no_correct)} questions have no correct response in any strategy "
                            f"(e.g. '{routed.no_correct[0]}'); add a strategy fixed to gold so that every question has one")
    routed.write(out)
    report = StrategyReport(name, "routed", None, None, recipe, len(routed.rows), len(routed.rows), len(routed.rows),
                            0, 0, 0, 0, 0, 0.0)
    report.notes.append("composition: " + ", ".join(f"{s} {100 * share:.0f}%" for s, share in routed.composition.items()))
    return report


def _task_hash(task: Task) -> str:
    return content_key({"template": task.prompt_template, "verifier": task.verifier_name,
                        "train": [[q.id, q.question, q.gold, q.metadata] for q in task.train]})


def _written(out: Path, task: str, target: str, ids: list[str], settings: dict) -> dict[str, StrategyReport]:
    """The strategies an earlier run wrote into ``out`` for the same task, target, questions and settings,
    whose file is there with exactly those questions (a committed output resumes without the cache)."""
    try:
        old = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    if [old.get(k) for k in ("task", "target", "ids", *settings)] != [task, target, ids, *settings.values()]:
        return {}
    found = {}
    for entry in old.get("strategies", []):
        path = out / f"{entry['strategy']}.jsonl"
        try:
            if [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] == ids:
                found[entry["strategy"]] = StrategyReport(**entry)
        except (OSError, json.JSONDecodeError, KeyError, TypeError):
            continue
    return found


def _generate_strategy(strategy: Strategy, task: Task, questions: list[Question], models: _Models, store: Store,
                       retry_temperature: float, own_answers_m: int, progress: StageProgress | None):
    label = f"strategy '{strategy.name}'"
    report = StrategyReport(strategy.name, strategy.kind, strategy.teacher, None, strategy.fingerprint(),
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
    # Reproducible without the cache only if every model that wrote part of it is.
    used = [teacher] + ([models.get("target")] if strategy.kind in OWN_ANSWER_KINDS else [])
    unsure = [lm for lm in used if not lm.reproducible]
    report.reproducible = not unsure
    report.reproducible_why = "; ".join(f"{lm.name}: {lm.reproducible_why}" for lm in dict.fromkeys(unsure or used))
    rendered = [render_prompt(teacher, own_template(teacher), p) for p in prompts]
    answers: dict[int, Any] = {}
    pending = list(range(len(questions)))
    tokens_before = _tokens(teacher)
    for attempt in range(strategy.retries + 1):
        sampled = attempt > 0 or strategy.temperature > 0
        spec = GenerationSpec(max_new_tokens=strategy.max_new_tokens, top_p=strategy.top_p if sampled else 1.0,
                              temperature=max(strategy.temperature, retry_temperature) if attempt else strategy.temperature,
                              seed=strategy.seed)
        for g_i, g in _generate_uncut(strategy, teacher, rendered, pending, spec, attempt, store, report, progress, label, questions):
            answers[g_i] = (g, attempt + 1)
        still = []
        for i in pending:
            g, _ = answers[i]
            q = questions[i]
            ok = g.finish_reason != "length" and bool(g.text.strip()) and check(task.verifier, g.text, q.gold, q.metadata).correct
            if ok and attempt == 0:
                report.correct_first_try += 1
            if not ok:
                still.append(i)
        pending = still
        if not pending:
            break
    report.generated_tokens = _tokens(teacher) - tokens_before
    wrong = set(pending)
    rows = []
    for i, q in enumerate(questions):
        g, tries = answers[i]
        text, fixed, truncated = g.text.strip(), False, g.finish_reason == "length"
        ok = i not in wrong
        if truncated:  # cut text with a gold answer stitched on would teach the cut; it is flagged instead
            report.truncated += 1
        elif not ok:
            if strategy.fix_final_answer:
                text, fixed = with_gold_answer(text, q.gold), True
                report.fixed += 1
            elif not text:
                raise StylefitError(f"{label} id '{q.id}': empty response after {tries} tries; nothing is written as if it were an answer")
        report.still_wrong += not ok
        report.correct += ok
        rows.append({"id": q.id, "response": text, "correct": ok, "tries": tries, "fixed": fixed, "truncated": truncated})
    if report.truncated:
        report.notes.append(f"{report.truncated}/{len(questions)} responses still cut at {_budget(strategy, strategy.length_retries)} "
                            "tokens: written as cut, flagged truncated=true, never fixed; training leaves them out")
    if whole_but_wrong := report.still_wrong - report.truncated:
        action = "final answer set to gold" if strategy.fix_final_answer else "kept as written, flagged correct=false"
        report.notes.append(f"{whole_but_wrong}/{len(questions)} responses wrong after {strategy.retries + 1} tries: {action}")
    return rows, report


def _budget(strategy: Strategy, extension: int) -> int:
    return strategy.max_new_tokens * 2**extension


def _generate_uncut(strategy: Strategy, teacher: LanguageModel, rendered: list[str], pending: list[int], spec: GenerationSpec,
                    attempt: int, store: Store, report: StrategyReport, progress, label: str, questions: list[Question]):
    """(index, generation) for every pending prompt: those cut by the length limit are asked again with
    twice the budget, up to ``strategy.length_retries`` times; what is still cut comes back cut."""
    todo = pending
    for extension in range(strategy.length_retries + 1):
        budget = _budget(strategy, extension)
        stage = f"{strategy.name}: {teacher.name} (try {attempt + 1}" + (f", {budget} tokens)" if extension else ")")
        step = _stage(progress, stage, len(todo), teacher)
        with _naming(label, [questions[i].id for i in todo]):
            generations = generate_cached(teacher, [rendered[i] for i in todo], replace(spec, max_new_tokens=budget), store, step,
                                          sample_index=[attempt] * len(todo))
        report.tries += len(todo)
        report.extended += len(todo) if extension else 0
        report.tokens += sum(g.n_tokens for g in generations)
        report.hit_length_limit += sum(g.finish_reason == "length" for g in generations)
        cut = []
        for i, g in zip(todo, generations):
            if g.finish_reason == "length" and extension < strategy.length_retries:
                cut.append(i)
            else:
                yield i, g
        if not cut:
            return
        todo = cut


def _tokens(lm: LanguageModel) -> int:
    return getattr(lm, "stats", {}).get("generated_tokens", 0)


def _stage(progress: StageProgress | None, stage: str, total: int, lm: LanguageModel) -> Progress | None:
    """Start the stage on ``progress``; the step it returns advances it, with ``lm``'s tokens since the
    start to a callback that takes ``tokens``."""
    if progress is None:
        return None
    start = _tokens(lm)
    try:
        inspect.signature(progress).bind(stage, total, 0, tokens=0)
        with_tokens = True
    except (TypeError, ValueError):
        with_tokens = False

    def step(advance: int) -> None:
        if with_tokens:
            progress(stage, total, advance, tokens=_tokens(lm) - start)
        else:
            progress(stage, total, advance)

    step(0)
    return step


@contextmanager
def _naming(label: str, ids: list[str]) -> Iterator[None]:
    """A generation that failed for good, as one line naming the item: "<label> id '<id>': <model>: <what went wrong>"."""
    try:
        yield
    except GenerationError as e:
        raise StylefitError(f"{label} id '{ids[e.index]}': {e.reason}") from None


def _gold_text(strategy: Strategy, q: Question, label: str) -> str:
    return f"Final Answer: {q.gold}" if strategy.kind == "answer_only" else _human_solution(q, label, strategy.solution_field)


def _human_solution(q: Question, label: str, field: str) -> str:
    """The question's human solution (``metadata[field]``), ending with its final answer."""
    solution = q.metadata.get(field)
    if not isinstance(solution, str) or not solution.strip():
        raise StylefitError(f"{label} id '{q.id}': needs a human solution in the question's metadata "
                            f"(\"{field}\"); the task gives only the gold label")
    return solution.strip() if FINAL_ANSWER_MARKER.search(solution) else with_gold_answer(solution.strip(), q.gold)


def _teacher_prompts(strategy: Strategy, task: Task, questions: list[Question], models: _Models, store: Store,
                     report: StrategyReport, own_answers_m: int, progress: StageProgress | None) -> list[str]:
    """The recipe's prompt for every question, with what it asks for filled in."""
    examples: list[tuple[str, str, str]] = []
    if strategy.examples != "none":
        examples = _worked_examples(strategy, task, questions, models, store, report)
    own: list[str | None] = [None] * len(questions)
    if strategy.kind in ("minimum_change", "paraphrase"):
        target = models.get("target")
        stage = _stage(progress, "target's own answers", len(questions), target)
        with _naming(f"strategy '{strategy.name}' (the target's own answer)", [q.id for q in questions]):
            answers = zero_shot_answers(target, task, questions, TARGET_SPEC, store, stage)
        own = [g.text.strip() or "(no answer)" for g in answers]
    own_answers: list[list[str]] = [[] for _ in questions]
    if strategy.kind == "self_style":
        target = models.get("target")
        with _naming(f"strategy '{strategy.name}' (the target's own answer)", [q.id for q in task.train[:own_answers_m]]):
            exemplars = build_self_exemplars(target, task, own_answers_m, TARGET_SPEC, store)
        if not exemplars.filtered and not strategy.own_answers_fallback:
            raise StylefitError(f"strategy '{strategy.name}': none of the target's {exemplars.answered} zero-shot answers "
                                "is correct, so there is no style of its own to imitate (own_answers_fallback = true "
                                "imitates its unfiltered answers)")
        report.notes.append(f"self-style: {exemplars.correct}/{exemplars.answered} of the target's zero-shot answers correct"
                            + ("" if exemplars.filtered else "; none, so it imitates its unfiltered answers (own_answers_fallback)"))
        texts, ids = exemplars.texts, exemplars.question_ids
        short = 0
        for i, q in enumerate(questions):  # the next k in cyclic order, never the target's answer to this very question
            cycle = [(i + 1 + j) % len(texts) for j in range(len(texts))]
            own_answers[i] = [texts[j] for j in cycle if ids[j] != q.id][: strategy.k_own_answers]
            short += len(own_answers[i]) < strategy.k_own_answers
        if short:
            report.notes.append(f"self-style: {short}/{len(questions)} questions were shown fewer than "
                                f"k={strategy.k_own_answers} own answers (only {len(texts)} correct ones)")
    solutions: list[str | None] = [None] * len(questions)
    if "solution" in placeholders(strategy.prompt):
        solutions = [_human_solution(q, f"strategy '{strategy.name}'", strategy.solution_field) for q in questions]
    return [strategy.render(task.prompt(q), q.gold, solution=solutions[i], examples=examples, answer=own[i],
                            own_answers=own_answers[i]) for i, q in enumerate(questions)]


def _worked_examples(strategy: Strategy, task: Task, questions: list[Question], models: _Models, store: Store,
                     report: StrategyReport) -> list[tuple[str, str, str]]:
    """The last training questions, with a solution: the human one, or the teacher's own answer. Taken from the
    end so that a sample and the full set of the same strategy show the same examples; never a generated question."""
    pool = task.train[-strategy.n_examples:]
    generated = {q.id for q in questions}
    if any(q.id in generated for q in pool):
        raise StylefitError(f"strategy '{strategy.name}' shows the last {strategy.n_examples} training questions as worked "
                            f"examples, so it can generate at most {len(task.train) - strategy.n_examples} of task "
                            f"'{task.name}''s {len(task.train)}; generate fewer (--n / full_size)")
    if strategy.examples == "human":
        label = f"strategy '{strategy.name}' (worked example)"
        return [(task.prompt(q), q.gold, _human_solution(q, label, strategy.solution_field)) for q in pool]
    spec = GenerationSpec(max_new_tokens=strategy.max_new_tokens)
    with _naming(f"strategy '{strategy.name}' (worked example)", [q.id for q in pool]):
        answers = zero_shot_answers(models.get(strategy.teacher), task, pool, spec, store)
    wrong = sum(not check(task.verifier, g.text, q.gold, q.metadata).correct for q, g in zip(pool, answers))
    if wrong:
        report.notes.append(f"{wrong}/{len(pool)} of the teacher's own worked examples are wrong (shown as written)")
    return [(task.prompt(q), q.gold, g.text.strip()) for q, g in zip(pool, answers)]
