"""The ground truth: fine-tune the target on each strategy's data (TRL, LoRA or full), evaluate it
on held-out questions, several seeds, as a resumable grid (here or on Ray); ``verify`` ranks the
strategies by accuracy against the noise floor.

    from stylefit.training import verify
    result = verify("examples/chain_sum", "examples/chain_sum/candidates", seeds=[0, 1, 2])
    result.cases[0].ranking, result.cases[0].noise.run_sd
"""

from stylefit.training.evaluate import EvalQuestion, Evaluation, evaluate, score_outputs
from stylefit.training.grid import RunResources, run_grid
from stylefit.training.recipe import EvalSettings, Recipe
from stylefit.training.runs import RunResult, RunSpec, execute
from stylefit.training.sft import TrainExample, finetune
from stylefit.training.summary import VerifyCase, summarize
from stylefit.training.verify import VerifyResult, plan_runs, verify

__all__ = [
    "EvalQuestion", "EvalSettings", "Evaluation", "Recipe", "RunResources", "RunResult", "RunSpec", "TrainExample",
    "VerifyCase", "VerifyResult", "evaluate", "execute", "finetune", "plan_runs", "run_grid", "score_outputs",
    "summarize", "verify",
]
