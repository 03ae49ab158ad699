"""Response-generation strategies: named recipes (built in, or from a TOML file) and ``generate``, which writes candidate sets with them."""

from stylefit.strategies.generate import GenerateResult, StrategyReport, generate, with_gold_answer
from stylefit.strategies.library import built_in, get_strategy, load_recipes, strategy_library
from stylefit.strategies.recipe import KINDS, PLACEHOLDERS, Strategy

__all__ = ["GenerateResult", "KINDS", "PLACEHOLDERS", "Strategy", "StrategyReport", "built_in", "generate", "with_gold_answer", "get_strategy", "load_recipes", "strategy_library"]
