"""The live track: does familiarity predict the fine-tuned outcome on models we run ourselves?

``stylefit bench live CONFIG`` runs, per case (one task, one target):

1. **candidates**: every strategy writes the first ``n_train`` training questions' targets
   (``stylefit generate``);
2. **selectors**: every selector scores the same first ``n_select`` questions (``stylefit select``);
   they run first because they are cheap and never see the ground truth;
3. **ground truth**: the target is fine-tuned on each strategy with every seed and evaluated on
   the first ``n_test`` test questions (``stylefit verify``, one recipe for the whole case);
4. **judging**: each selector's preference against the strategies' mean accuracies, with the
   paper track's selection-quality figures (``selection.quality``); over every judged case, and
   apart over the pre-registered cases (those whose runs all follow the registration named by
   ``preregistration``, read from git: ``bench.live.preregistration``) and the development ones.

What a task must give: a folder with ``task.json``, a verifier, and train and test splits (or a
``reasoning_gym`` generator from which such a folder is written into the results).

One module per step: ``config`` (the cases and selectors), ``selectors`` (scoring), ``truth`` (the
fine-tunes, into ``runs``' committed files), ``judge``, then ``report`` and ``html``; the pre-registration
and the default rule in their own modules.

Everything lands in the results folder as it finishes, in plain files meant to be committed:
``<case>/task/`` (when generated), ``<case>/candidates/``, ``<case>/runs/<run key>.json`` (one
per fine-tuning run: accuracy, training record, every test item's output) and
``<case>/scores/<selector>.json`` (every per-example score). A rerun, on this machine or a fresh
one, reads them back first and computes only what is missing; a selector added later is judged
on the whole track without retraining anything.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from stylefit.bench.live.config import LiveConfig, case_task_path, load_live_config
from stylefit.bench.live.judge import judge
from stylefit.bench.live.selectors import score_selectors
from stylefit.bench.live.truth import run_truth
from stylefit.core.errors import StylefitError
from stylefit.core.progress import labelled


def run_live(
    config: LiveConfig | str | Path,
    *,
    cases: list[str] | None = None,
    stages: tuple[str, ...] = ("candidates", "truth", "selectors"),
    store: str | Path | None = None,
    selectors: list[str] | None = None,
    workers: int = 1,
    load_model: Callable | None = None,
    say: Callable[[str], None] = lambda line: None,
    progress=None,
) -> dict[str, Any]:
    """Run (or resume) the track and judge every selector; returns the judged track (see ``judge``).

    ``load_model`` maps a teacher's name to a loaded model (default: ``stylefit.models.load_model``);
    a case's ``teachers`` table renames teachers first. ``selectors``: run only these (default all);
    ``workers``: fine-tuning runs at once in processes here."""
    from stylefit.api import generate
    from stylefit.data.task import load_task

    config = config if isinstance(config, LiveConfig) else load_live_config(config)
    chosen = [c for c in config.cases if cases is None or c.name in cases]
    if cases is not None and (unknown := sorted(set(cases) - {c.name for c in config.cases})):
        raise StylefitError(f"unknown case '{unknown[0]}' (known: {', '.join(c.name for c in config.cases)})")
    specs = [s for s in config.selectors if selectors is None or s.name in selectors]
    if selectors is not None and (unknown := sorted(set(selectors) - {s.name for s in config.selectors})):
        raise StylefitError(f"unknown selector '{unknown[0]}' (known: {', '.join(s.name for s in config.selectors)})")
    for case in chosen:
        case_progress = labelled(progress, case.name)  # a bar per case: bars are keyed by stage name
        task = load_task(case_task_path(config, case))
        if not task.test:
            raise StylefitError(f"case '{case.name}': task '{task.name}' has no test split, and the ground truth needs one")
        _ = task.verifier
        if "candidates" in stages:
            say(f"{case.name}: candidates ({len(case.strategies)} strategies x {case.n_train} questions)")
            if load_model is None:
                from stylefit.models import SERVER_PREFIX, load_model as load

                load_model = lambda name: load(name, **({} if name.startswith(SERVER_PREFIX) else {"dtype": config.dtype}))
            generate(task, case.strategies + case.routed_sets, out=config.path(config.results) / case.name / "candidates",
                     n=case.n_train, target=case.target, recipes=[config.path(r) for r in case.recipes],
                     load_model=lambda name: load_model(case.teachers.get(name, name)), store=store, progress=case_progress)
        # Selectors before the ground truth: they are cheap, and they never see it.
        if "selectors" in stages:
            score_selectors(config, case, task, specs, store=store, workers=workers, say=say, progress=case_progress)
        if "truth" in stages:
            run_truth(config, case, task, store=store, workers=workers, say=say, progress=case_progress)
    return judge(config)
