"""How `stylefit run`'s default selector follows the live track's pre-registered cases (issue 25).

A rule file, committed before the cases it decides on are judged, names the incumbent (the
registration's recommended selector), the challengers, what ``stylefit run --scorer`` decides with
in each one's place, and how many pre-registered cases it waits for. The judge applies the rule as
committed (its text at its first commit, like the registration) to the pre-registered cases:

- before ``decide_after`` of them are judged, the incumbent stays;
- then a challenger replaces it when its weighted ρ minus the incumbent's, paired over the same
  cases, has a 95% bootstrap interval above zero, and its mean regret is no larger; of several,
  the one ahead by the most. Otherwise the incumbent stays.

A deviation file may depart from the verdict afterwards: written after the results were seen, it names
the verdict it departs from and another challenger the rule found ahead of the incumbent too, with its
reason (``Deviation``). It is applied only while the verdict is the one it was written for, is judged
as first committed like the rule, and is printed beside the verdict, never in its place.

The verdict also names the ``stylefit run`` settings that decide as the chosen selector did on the
track: its scorer, sample size and scorer parameters (``run_settings``). ``tests/test_default_rule.py``
holds ``stylefit run``'s defaults to them in the committed ``live_track.json``: the default moves when
the evidence does, in the same commit, with the settings it was judged under.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stylefit.bench.live.config import PAPER_PROXY_DEFAULTS, LiveConfig, SelectorSpec
from stylefit.core.config_file import first_error
from stylefit.core.errors import StylefitError
from stylefit.selection.quality import CaseOutcome, difference, summarize_many


class DefaultRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incumbent: str
    challengers: list[str] = Field(min_length=1)
    decide_after: int = Field(ge=2)  # judged pre-registered cases
    run_scorer: dict[str, str]  # selector -> the `stylefit run --scorer` that decides in its place

    @model_validator(mode="after")
    def _named(self) -> "DefaultRule":
        if missing := [n for n in [self.incumbent, *self.challengers] if n not in self.run_scorer]:
            raise ValueError(f"run_scorer: no scorer for '{missing[0]}'")
        if self.incumbent in self.challengers:
            raise ValueError(f"the incumbent '{self.incumbent}' is among the challengers")
        return self


class Deviation(BaseModel):
    """A departure from the rule's verdict, chosen after seeing the results, so never silent: what the
    rule chose (a later, different verdict leaves it unapplied), what decides instead, and why."""

    model_config = ConfigDict(extra="forbid")

    rule_chose: str
    instead: str
    reason: str = Field(min_length=1)


def load_rule(text: str, where: str) -> DefaultRule:
    return _load(DefaultRule, text, where)


def load_deviation(text: str, where: str) -> Deviation:
    return _load(Deviation, text, where)


def _load(model: type[BaseModel], text: str, where: str):
    try:
        return model.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as e:
        raise StylefitError(f"{where}: not valid TOML ({e})") from None
    except ValidationError as e:
        raise StylefitError(f"{where}: {first_error(e)}") from None


def verdict(rule: DefaultRule, outcomes: dict[str, Sequence[CaseOutcome]], sigma: Sequence[float],
            judged_as_registered: set[str]) -> dict[str, Any]:
    """The rule applied to the pre-registered cases' outcomes (``outcomes[name][i]`` on case i, weighted
    by ``sigma[i]``); only selectors in ``judged_as_registered`` take part."""
    n = len(sigma)
    keep = {"default": rule.incumbent, "run_scorer": rule.run_scorer[rule.incumbent], "judged": n,
            "decide_after": rule.decide_after, "incumbent": rule.incumbent}
    if rule.incumbent not in judged_as_registered:
        return keep | {"status": "undecided", "reason": f"the incumbent '{rule.incumbent}' is not judged as registered"}
    challengers = [c for c in rule.challengers if c in judged_as_registered]
    left_out = [c for c in rule.challengers if c not in judged_as_registered]
    keep |= {"challengers": challengers, "left_out": left_out}
    if n < rule.decide_after:
        return keep | {"status": "waiting", "reason": f"{n} of the {rule.decide_after} pre-registered cases it waits for are judged"}
    diffs = {c: [difference(a, b) for a, b in zip(outcomes[c], outcomes[rule.incumbent])] for c in challengers}
    paired = {c: {f: vars(i) for f, i in figures.items() if f in ("weighted_spearman", "regret_points")}
              for c, figures in summarize_many(diffs, sigma).items()}
    # an undefined interval (NaN) is never above zero
    ahead = [c for c in challengers if paired[c]["weighted_spearman"]["low"] > 0 and paired[c]["regret_points"]["estimate"] <= 0]
    keep |= {"paired": paired, "ahead": ahead}
    if not ahead:
        return keep | {"status": "kept", "reason": "no challenger's weighted ρ is above the incumbent's beyond the paired "
                                                   "interval with a regret no larger"}
    winner = max(ahead, key=lambda c: paired[c]["weighted_spearman"]["estimate"])
    return keep | {"status": "replaced", "default": winner, "run_scorer": rule.run_scorer[winner],
                   "reason": f"'{winner}' ranks above '{rule.incumbent}' beyond the paired interval, with a regret no larger"}


def deviate(decided: dict[str, Any], deviation: Deviation) -> dict[str, Any]:
    """Whether ``deviation`` applies to the verdict ``decided``: only to the verdict it was written for,
    and only for a challenger the rule found ahead of the incumbent as well."""
    if decided["default"] != deviation.rule_chose:
        why = f"it was written for a verdict of '{deviation.rule_chose}', and the rule chooses '{decided['default']}'"
    elif deviation.instead not in decided.get("ahead", []):
        why = f"'{deviation.instead}' is not among the challengers the rule finds ahead of '{decided['incumbent']}'"
    else:
        why = ""
    return deviation.model_dump() | {"applied": not why, "not_applied_because": why or None}


def run_settings(rule: DefaultRule, spec: SelectorSpec, config: LiveConfig) -> dict[str, Any]:
    """The ``stylefit run`` settings that decide as selector ``spec`` did on the track ``config``: the
    rule's scorer for it, with the sample size and parameters it was judged under, and what cannot carry
    over (``unlike_the_track``: settings the track gave per case, or to every model it loaded)."""
    from stylefit.bench.live.selectors import proxy_rounds_recipe

    scorer = rule.run_scorer[spec.name]
    notes = [f"the track loaded every model in {config.dtype}; `run` loads them in its --dtype (auto: bf16 on a GPU)"]
    fine_tunes = "each case's own recipe additions (speed settings; a larger max_length where the registered one refuses an example)"
    if spec.scorer == scorer:  # a scorer judged on the track's sample, with every parameter it was registered with
        params = spec.params
        if scorer == "adaptive":  # and its proxy rounds fine-tuned with the track's recipe, in the track's dtype
            params = {"recipe": proxy_rounds_recipe(config, None), "dtype": config.dtype} | params
        return {"scorer": scorer, "n": config.n_select, "scorer_params": params,
                "unlike_the_track": [*notes, fine_tunes] if scorer in ("adaptive", "proxy") else notes}
    if (spec.scorer, scorer) == ("paper_proxy", "proxy"):
        # the proxy scorer on the paper proxy's n questions, validated on as many held-out training questions
        params = PAPER_PROXY_DEFAULTS | spec.params
        return {"scorer": scorer, "n": params["n"],
                "scorer_params": {"validation": params["validation"], "seed": params["seed"], "recipe": config.recipe, "dtype": config.dtype},
                "unlike_the_track": [*notes, fine_tunes, "each case's own evaluation budget (`run`: the proxy's max_new_tokens)",
                                     "its held-out questions: the track's were those past the case's n_train, `run`'s the "
                                     "first outside the sample"]}
    raise StylefitError(f"run_scorer: '{spec.name}' is scored by '{spec.scorer}', whose settings '{scorer}' cannot take")
