"""The Python API: ``stylefit.select``, ``stylefit.select_adaptive`` and ``stylefit.generate``, composed from the layers below (no logic of its own)."""

from __future__ import annotations

from pathlib import Path

from stylefit.data.task import Task
from stylefit.selection.adaptive import AdaptiveResult, AdaptiveSettings, select_adaptive
from stylefit.selection.routing import router
from stylefit.selection.select import SelectionResult, select
from stylefit.strategies.generate import GenerateResult, generate as generate_strategies

__all__ = ["AdaptiveResult", "AdaptiveSettings", "SelectionResult", "generate", "select", "select_adaptive"]


def generate(task: Task | str | Path, strategies: list[str], **options) -> GenerateResult:
    """``stylefit.strategies.generate.generate`` (see its options), with ``routed:<scorer>`` sets routed by
    ``stylefit.selection.routing``: strategies sit below scoring, so routing is passed in here."""
    return generate_strategies(task, strategies, router=router, **options)
