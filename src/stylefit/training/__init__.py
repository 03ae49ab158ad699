"""Fine-tuning and evaluating a model on one candidate set (runs, grids), and the ground truth built on them (``verify``)."""

from stylefit.training.evaluate import EvalQuestion, Evaluation, evaluate, score_outputs
from stylefit.training.grid import RunResources, run_grid
from stylefit.training.plan import plan_runs
from stylefit.training.recipe import EvalSettings, Recipe
from stylefit.training.runs import RunResult, RunSpec, execute
from stylefit.training.sft import TrainExample, finetune
from stylefit.training.summary import VerifyCase, summarize
from stylefit.training.verify import VerifyResult, verify

__all__ = [
    "EvalQuestion", "EvalSettings", "Evaluation", "Recipe", "RunResources", "RunResult", "RunSpec", "TrainExample",
    "VerifyCase", "VerifyResult", "evaluate", "execute", "finetune", "plan_runs", "run_grid", "score_outputs",
    "summarize", "verify",
]
