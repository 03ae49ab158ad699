"""Pre-registration (issue 25): what the registration fixes (the selectors, the recommended one, what
the season must hold), and whether a live-track case's ground truth was run after its judging was
fixed, read from git.

A case counts as pre-registered only when the commit that first added the registration file is a
strict ancestor of the first commit of every one of the case's run files. Git is the only witness
taken: a file's timestamps or a run's ``finished_at`` can be written by anyone, a commit graph is
what a reader can check. Every answer is (yes or no, why); anything that cannot be verified (no git,
not a repository, a shallow clone, a file never committed, a run whose origin is not in the
history) is a no, with its reason.

A run file's first commit is the oldest that added it, following renames inside the results folder
(a run taken over under a larger budget is written anew and its old file removed: git sees a rename)
and ``reused`` keys (a taken-over run names the run it is): a run counts from its origin's first
commit. A file moved in from outside the results folder, or copied by hand, counts from that commit.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stylefit.bench.live.config import SelectorSpec
from stylefit.core.config_file import first_error
from stylefit.core.errors import StylefitError

AS_REGISTERED = "as registered"  # a selector the track judges with its registered settings


class SeasonCase(BaseModel):
    """What every pre-registered case must have."""

    model_config = ConfigDict(extra="forbid")
    min_strategies: int = Field(ge=2)
    min_seeds: int = Field(ge=1)
    min_test_questions: int = Field(ge=1)


class SeasonJudging(BaseModel):
    """How the season is judged: the one figure, its case weights, the recommended selector first."""

    model_config = ConfigDict(extra="forbid")
    figure: Literal["weighted_spearman"]
    case_weights: Literal["sigma"]
    recommended_first: bool


class Season(BaseModel):
    """What the season must hold (issue 25), as numbers the judge reports against."""

    model_config = ConfigDict(extra="forbid")
    min_judged_cases: int = Field(ge=1)
    min_new_cases: int = Field(ge=1)
    min_task_families: int = Field(ge=1)
    min_non_arithmetic_families: int = Field(ge=0)
    min_targets: int = Field(ge=1)
    min_cases_without_programmatic_solution: int = Field(ge=0)
    min_cases_target_answers_nothing: int = Field(ge=0)
    answers_nothing_below: float = Field(ge=0, le=1)
    per_case: SeasonCase
    judging: SeasonJudging


class Preregistration(BaseModel):
    """The schema of a pre-registration: the selectors to judge, with every parameter, the one
    recommended, and what the season must hold."""

    model_config = ConfigDict(extra="forbid")
    recommended: str
    selectors: list[SelectorSpec] = Field(min_length=1)
    season: Season

    @model_validator(mode="after")
    def _known(self) -> "Preregistration":
        names = [s.name for s in self.selectors]
        if len(set(names)) != len(names):
            raise ValueError(f"selector names must be distinct: {names}")
        if self.recommended not in names:
            raise ValueError(f"recommended: '{self.recommended}' is not among the selectors ({', '.join(names)})")
        return self


def load_preregistration(registration: Registration) -> Preregistration:
    """The pre-registration as registered (its text at its first commit; the file itself until it is committed)."""
    where = f"{registration.path}" + (" (as registered)" if registration.commit else "")
    try:
        return Preregistration.model_validate(tomllib.loads(registration.text))
    except tomllib.TOMLDecodeError as e:
        raise StylefitError(f"{where}: not valid TOML ({e})") from None
    except ValidationError as e:
        raise StylefitError(f"{where}: {first_error(e)}") from None


def selector_agreement(judged: list[SelectorSpec], prereg: Preregistration) -> dict[str, str]:
    """Every registered or judged selector -> AS_REGISTERED when the track judges it with its registered
    scorer and parameters, else why it is left out of the pre-registered figures."""
    track = {spec.name: spec for spec in judged}
    agreement = {}
    for spec in prereg.selectors:
        mine = track.get(spec.name)
        if mine is None:
            agreement[spec.name] = "registered, not among the track's selectors: not judged"
        elif (mine.scorer, _settings(mine)) != (spec.scorer, _settings(spec)):
            agreement[spec.name] = (f"its settings differ from the registration (registered: {spec.scorer} {spec.params}; the track's: "
                                    f"{mine.scorer} {mine.params}): left out of the pre-registered figures")
        else:
            agreement[spec.name] = AS_REGISTERED
    registered = {spec.name for spec in prereg.selectors}
    return agreement | {name: "not registered: left out of the pre-registered figures" for name in track if name not in registered}


def _settings(spec: SelectorSpec) -> dict[str, Any]:
    """A selector's parameters as it runs with them: the adaptive selector's with its (pre-registered) defaults filled in."""
    if spec.scorer != "adaptive":
        return spec.params
    from stylefit.selection.adaptive import AdaptiveSettings

    try:
        return AdaptiveSettings.model_validate(spec.params).model_dump(mode="json")
    except ValidationError as e:
        raise StylefitError(f"selector '{spec.name}': {first_error(e, 'params.')}") from None


class Registration:
    """The registration file as git knows it: the commit that first added it (None with ``reason``
    when there is none to trust) and its text as registered (the file as it is when not committed)."""

    def __init__(self, path: Path):
        self.path = path.resolve()
        self.commit: str | None = None
        self.top: Path | None = None
        try:
            self.text = self.path.read_text(encoding="utf-8")
        except OSError as e:
            raise StylefitError(f"{path}: cannot read the pre-registration ({e.strerror})") from None
        self.changed = False  # the file differs from what was registered
        self._ancestry: dict[str, bool] = {}
        self._firsts: dict[Path, dict[str, str | None]] = {}
        self.reason = self._locate()

    def _locate(self) -> str:
        """Find the repository and the registration commit; '' when found, else why not."""
        if shutil.which("git") is None:
            return "git is not available here, so no run can be shown to follow the registration"
        ok, out = _git(self.path.parent, "rev-parse", "--show-toplevel", "--is-shallow-repository")
        if not ok:
            return f"{self.path.name} is not in a git repository ({out}), so no run can be shown to follow the registration"
        top, shallow = out.splitlines()
        if shallow == "true":  # a file's first commit in a shallow history may be the cut, not its first
            return "a shallow clone: git's history is cut, so no run's first commit can be known"
        self.top = Path(top).resolve()
        # no renames: a registration moved into place counts from the move, never from an older file's commit
        ok, out = self.git("log", "--no-renames", "--diff-filter=A", "--format=%H", "--", self.rel(self.path))
        if not ok:
            return f"git log failed on {self.path.name} ({out})"
        if not out:
            return f"{self.path.name} is not committed, so no run can follow the registration"
        commit = out.splitlines()[-1]  # newest first: the oldest addition is the registration
        ok, registered = self.git("show", f"{commit}:{self.rel(self.path)}", strip=False)
        if not ok:
            return f"git show failed on {self.path.name} ({registered})"
        self.commit, self.changed = commit, registered != self.text
        self.text = registered  # judged against what was registered, never a later edit
        return ""

    def git(self, *args: str, strip: bool = True) -> tuple[bool, str]:
        return _git(self.top, *args, strip=strip)

    def rel(self, path: Path) -> str:
        return path.resolve().relative_to(self.top).as_posix()

    def follows(self, commit: str) -> bool:
        """Whether ``commit`` comes strictly after the registration in git's graph (a run committed
        together with the registration does not follow it)."""
        if commit not in self._ancestry:
            ok, _ = self.git("merge-base", "--is-ancestor", self.commit, commit)
            self._ancestry[commit] = ok and commit != self.commit
        return self._ancestry[commit]

    def first_commits(self, folder: Path) -> dict[str, str | None] | str:
        """Every file ever added under ``folder`` (repository-relative path) -> the oldest commit that
        added it, a renamed file its source's (None: renamed from a file git never saw added); or why
        git could not say. One ``git log`` per folder, read once."""
        folder = folder.resolve()
        if folder not in self._firsts:
            ok, out = self.git("log", "-M", "--diff-filter=AR", "--name-status", "--format=%x00%H", "--", self.rel(folder))
            if not ok:
                return f"git log failed on {folder} ({out})"
            firsts: dict[str, str | None] = {}
            blocks = [b.strip().splitlines() for b in out.split("\0") if b.strip()]
            for commit, *entries in reversed(blocks):  # oldest first, so a rename finds its source
                for status, *paths in (e.split("\t") for e in entries if e):
                    if paths[-1] not in firsts:
                        firsts[paths[-1]] = commit if status == "A" else firsts.get(paths[0])
            self._firsts[folder] = firsts
        return self._firsts[folder]

    def _origins(self, run: Path, firsts: dict[str, str | None]) -> tuple[list[str], str]:
        """The first commits of a run file and of every run it was taken over from, and what cannot be
        traced ('' when every one can): a file never committed, or an origin not in the history."""
        rel = self.rel(run)
        if rel not in firsts:
            return [], "not committed"
        if (commit := firsts[rel]) is None:
            return [], "renamed from a file git never saw added"
        commits, seen = [commit], {rel}
        data = json.loads(run.read_text(encoding="utf-8"))
        while reused := data.get("reused"):
            origin = (Path(rel).parent / f"{reused['key']}.json").as_posix()
            if origin in seen:
                break
            seen.add(origin)
            ok, text = (False, "") if (commit := firsts.get(origin)) is None else self.git("show", f"{commit}:{origin}", strip=False)
            if not ok:
                return commits, f"taken over from {Path(origin).name}, which git does not hold"
            commits.append(commit)
            data = json.loads(text)
        return commits, ""

    def case(self, runs: list[Path], results: Path) -> tuple[bool, str]:
        """Whether a case with these run files (somewhere under ``results``) is pre-registered, and why (not)."""
        if self.commit is None:
            return False, self.reason
        if not runs:
            return False, "no run files: nothing shows its ground truth followed the registration"
        if not results.resolve().is_relative_to(self.top):
            return False, f"{results} is outside the repository that holds the registration"
        firsts = self.first_commits(results)
        if isinstance(firsts, str):
            return False, firsts
        before, untraced = [], []
        for run in runs:
            commits, missing = self._origins(run, firsts)
            if missing:
                untraced.append(f"{run.name} ({missing})")
            elif not all(self.follows(c) for c in commits):
                before.append(run.name + (" (taken over from an earlier run)" if self.follows(commits[0]) else ""))
        problems = [f"{len(before)} of its {len(runs)} run files were first committed in a commit that does not follow the "
                    f"registration's (before it, with it, or off its line of history), e.g. {before[0]}"] if before else []
        problems += [f"{len(untraced)} of its {len(runs)} run files cannot be traced in git, e.g. {untraced[0]}"] if untraced else []
        if problems:
            return False, "; ".join(problems)
        return True, f"all {len(runs)} of its run files were first committed after the registration's commit"


def _git(cwd: Path, *args: str, strip: bool = True) -> tuple[bool, str]:
    """(succeeded, stdout) of a git command in ``cwd``; on failure the first line of its stderr."""
    try:
        done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, encoding="utf-8")
    except OSError as e:
        return False, e.strerror or str(e)
    if done.returncode != 0:
        return False, (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[0]
    return True, done.stdout.strip() if strip else done.stdout
