"""The adaptive selector on a live case, committed: one result file per step budget.

The track judges it as one of its selectors (budget 0: none) and ``benchmarks/adaptive_live.py``
draws its curve of quality against budget; both read and write the same files, so neither
repeats the other's fine-tunes:

- ``<case>/adaptive/budget-<N>.json``: the result under the registered settings (a folder
  ``adaptive-<hash>`` for any other settings, kept apart);
- ``<case>/adaptive_runs/<run key>.json``: its fine-tunes, which a fresh machine resumes from.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from stylefit.bench.live.track import CaseConfig, CommittedRuns, LiveConfig, SelectorSpec, proxy_rounds_recipe, selector_params
from stylefit.core.errors import StylefitError
from stylefit.data.jsonl import write_atomic


class OtherSettings(StylefitError):
    """A committed result made with other settings than those asked for: never read as theirs."""


def results_dir(config: LiveConfig, case: CaseConfig, params: dict[str, Any]) -> Path:
    """Where the results under these settings (the registered ones when ``params`` is empty) are committed."""
    folder = config.path(config.results) / case.name
    return folder / ("adaptive" + (f"-{hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]}" if params else ""))


def adaptive_result(config: LiveConfig, case: CaseConfig, budget: int, params: dict[str, Any] | None = None, *,
                    cache: str | Path | None = None, workers: int = 1, device: str | None = None, rerun: bool = False,
                    progress=None) -> dict[str, Any]:
    """The selector's result on the case under ``budget`` fine-tune steps (0: none): read back when
    committed under the same settings, else run and committed. It runs on the case's bound device
    unless told otherwise (a selector's fine-tunes are not ground truth; their devices are recorded)."""
    from stylefit.data.task import load_task
    from stylefit.models.device import resolve_device
    from stylefit.selection.adaptive import AdaptiveSettings, select_adaptive
    from stylefit.training.runs import device_kind

    params = params or {}
    folder = config.path(config.results) / case.name
    settings = AdaptiveSettings(**{"dtype": config.dtype, "recipe": proxy_rounds_recipe(config, case)}
                                | selector_params(case, SelectorSpec(name="adaptive", scorer="adaptive", params=params))
                                | {"budget_steps": budget})
    file = results_dir(config, case, params) / f"budget-{budget}.json"
    if file.is_file() and not rerun:
        data = json.loads(file.read_text(encoding="utf-8"))
        if data["settings"] != settings.model_dump(mode="json"):
            raise OtherSettings(f"{file}: made with other settings than these; remove it, or give adaptive_live.py --rerun, "
                                "to replace it")
        return data
    device = device or case.device or "auto"
    task = load_task(folder / "task" if (folder / "task" / "task.json").is_file() else config.path(case.task))
    files = [folder / "candidates" / f"{s}.jsonl" for s in case.strategies]
    result = select_adaptive(task, files, target=case.target, device=device, dtype=config.dtype, settings=settings,
                             n=config.n_select, store=CommittedRuns(cache, folder / "adaptive_runs"), workers=workers,
                             progress=progress)
    runs = [json.loads(f.read_text(encoding="utf-8")) for f in (folder / "adaptive_runs").glob("*.json")]
    data = result.to_dict() | {"device": " and ".join(sorted({device_kind(r["device"]) for r in runs} | {device_kind(resolve_device(device))}))}
    write_atomic(file, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    return data
