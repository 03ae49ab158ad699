"""The learnability proxy: fine-tune the target briefly on each strategy's sample and see how much
it learned, on held-out training questions.

The paper's (arXiv 2502.11779) train-then-test proxy made cheap: a short LoRA fine-tune on the
N sampled questions instead of the full set, judged on training questions outside the sample,
never on the test split.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stylefit.core.errors import StylefitError
from stylefit.core.store import Store
from stylefit.data.candidates import CandidateSet
from stylefit.data.task import Question, Task
from stylefit.models.base import ContinuationRequest, LanguageModel, Progress
from stylefit.scoring.base import ExampleScore, SampleScores, Scorer, ScoringItem, register

if TYPE_CHECKING:  # training imports the fine-tuning libraries: only a proxy that runs needs them
    from stylefit.training.recipe import Recipe
    from stylefit.training.runs import RunResult, StageProgress

MEASURES = ("accuracy", "gold_loss")


@register
class LearnabilityProxy(Scorer):
    """Per strategy: fine-tune on its responses to the N sampled questions (LoRA, one seed), then
    answer ``validation`` held-out *training* questions (the first ones outside the sample).

    - ``measure`` = "accuracy": each held-out question's strict correctness (task verifier) after
      fine-tuning; the statistic is the held-out accuracy. Higher is better.
    - ``measure`` = "gold_loss": the drop, from the untrained target to the fine-tuned one, in the
      mean NLL of "Final Answer: <gold>" straight after the question. Higher is better. It rewards
      answering at once: strategies that reason first are measured on text they were not trained to
      write first. Both measures are recorded in the same runs (which generate the answers too), so
      either costs the fine-tunes and generations, and gold_loss one untrained-model pass more.
    - Per-example values are on the held-out questions (paired across strategies), not on the
      sample: its N questions were trained on.
    - ``recipe``: any fine-tuning recipe field (default: stylefit's recipe; ``epochs`` and
      ``learning_rate`` set the number of steps, epochs × N / batch size, and their size).
    - ``dtype``: the runs' compute type, as in ``verify`` (auto: bf16 mixed precision on a GPU, else
      float32); "float32" makes a proxy scored on a GPU the one scored on a CPU.
    - Cost: one fine-tune on N examples plus ``validation`` generations per strategy (and one
      base-model pass); runs are cached in the store like ``verify``'s, so a rerun is free.
    """

    name = "proxy"
    version = "1"
    unit = "held-out accuracy"
    higher_is_better = True
    needs_logprobs = False

    def __init__(self, measure: str = "accuracy", validation: int = 100, seed: int = 0,
                 recipe: dict[str, Any] | None = None, max_new_tokens: int = 256, dtype: str = "auto"):
        if measure not in MEASURES:
            raise StylefitError(f"scorer 'proxy': unknown measure '{measure}' (known: {', '.join(MEASURES)})")
        if validation < 2:
            raise StylefitError(f"scorer 'proxy': validation must be at least 2 questions, got {validation}")
        from stylefit.training.recipe import Recipe

        self.measure, self.validation, self.seed, self.max_new_tokens = measure, validation, seed, max_new_tokens
        from stylefit.models.device import resolve_dtype

        try:
            self.dtype = dtype if dtype == "auto" else resolve_dtype(dtype, "cpu")  # the name checked now
        except StylefitError as e:
            raise StylefitError(f"scorer 'proxy': {e}") from None
        try:
            self.recipe = Recipe(**(recipe or {}))
        except Exception as e:  # pydantic: name the first bad field
            from stylefit.core.config_file import first_error

            raise StylefitError(f"scorer 'proxy': recipe: {first_error(e)}") from None
        self.unit = "held-out accuracy" if measure == "accuracy" else "drop in gold-answer NLL"

    def params(self) -> dict[str, Any]:
        return {"measure": self.measure, "validation": self.validation, "seed": self.seed,
                "recipe": self.recipe.model_dump(mode="json"), "max_new_tokens": self.max_new_tokens,
                "dtype": self.dtype}

    def requests(self, lm: LanguageModel, item: ScoringItem) -> list[ContinuationRequest]:
        raise NotImplementedError("the proxy scores through sample_scores")

    def held_out_questions(self) -> int:
        return self.validation

    def sample_scores(self, lm: LanguageModel, candidates: CandidateSet, ids: list[str], store: Store,
                      progress: Progress | None = None, skip_overlong: bool = False) -> SampleScores:
        task = candidates.task
        sampled = set(ids)
        held_out = [q for q in task.train if q.id not in sampled][: self.held_out_questions()]
        if len(held_out) < self.held_out_questions():
            raise StylefitError(f"scorer 'proxy': task '{task.name}' has {len(held_out)} training questions outside the "
                                f"{len(ids)} sampled, and the proxy validates on {self.validation}")
        # The runs train where the target was loaded (select's --device), and skip what select's --skip-overlong skips.
        recipe = self.recipe.model_copy(update={"skip_overlong": True}) if skip_overlong else self.recipe
        runs, computed = proxy_runs(lm, candidates, ids, held_out, recipe=recipe, max_new_tokens=self.max_new_tokens,
                                    seed=self.seed, dtype=self.dtype, base=self.measure == "gold_loss", store=store,
                                    progress=None if progress is None else _in_units(progress, len(candidates.strategies) * len(ids)))
        base = {item.id: item.gold_nll for item in runs[None].evaluation.items} if self.measure == "gold_loss" else {}
        by_strategy = {}
        for strategy in candidates.strategies:
            items = runs[strategy].evaluation.items
            if self.measure == "accuracy":
                values = [float(item.strict_correct) for item in items]
            else:
                values = [base[item.id] - item.gold_nll for item in items]
            by_strategy[strategy] = [ExampleScore(v, None, item.n_tokens) for v, item in zip(values, items)]
        from stylefit.training.runs import runs_cost_s

        return SampleScores([q.id for q in held_out], by_strategy, computed=computed, runs_s=runs_cost_s(runs.values()))


def proxy_runs(lm: LanguageModel, candidates: CandidateSet, ids: list[str], held_out: list[Question], *, recipe: Recipe,
               max_new_tokens: int, seed: int, dtype: str, store: Store, strategies: list[str] | None = None,
               base: bool = False, workers: int = 1, ray_address: str | None = None, resources: dict | None = None,
               progress: StageProgress | None = None) -> tuple[dict[str | None, RunResult], int]:
    """The proxy's fine-tunes: per strategy (all, or ``strategies``), LoRA on its responses to ``ids``,
    then answer ``held_out`` training questions (never the test split); with ``base``, the untrained
    target too (key None). Through the same runner as ``verify`` (cached in ``store``; ``workers``
    at once here, or on Ray at ``ray_address`` with ``resources`` per run). Returns the runs by
    strategy and how many were computed now."""
    from stylefit.training.grid import RunResources, run_grid
    from stylefit.training.plan import plan_runs, run_numerics
    from stylefit.training.recipe import EvalSettings

    task = candidates.task
    proxy_task = Task(f"{task.name}-proxy", task.prompt_template, task.train, held_out, task.verifier_name, task.source)
    sample = CandidateSet(task, list(ids), {s: {i: rows[i] for i in ids} for s, rows in candidates.by_strategy.items()})
    resources = RunResources(**(resources or {}))
    device, dtype = run_numerics(str(getattr(lm, "device", "auto")), dtype, ray_address, resources)
    specs = plan_runs(proxy_task, sample, lm.name, strategies=strategies, seeds=[seed], recipe=recipe,
                      eval_settings=EvalSettings(max_new_tokens=max_new_tokens, gold_loss=True), base=base, device=device, dtype=dtype)
    outcome = run_grid(specs, store, workers=workers, ray_address=ray_address, resources=resources, progress=progress)
    return {r.strategy: r for r in outcome.results}, outcome.computed


def _in_units(progress: Progress, units: int):
    """The scoring stage counts strategy x question units; report finished runs as their share of them."""
    done, reported = 0, 0

    def advance(name: str, total: int, k: int) -> None:
        nonlocal done, reported
        if name == "runs" and total:
            done += k
            now = done * units // total
            progress(now - reported)
            reported = now
    return advance
