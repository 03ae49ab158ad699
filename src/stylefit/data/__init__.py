"""Tasks, candidate sets and verifiers: everything stylefit reads from disk."""

from stylefit.data.candidates import CandidateSet, load_candidates
from stylefit.data.records import FieldMap
from stylefit.data.task import Question, Task, load_task
from stylefit.data.verifiers import Verdict, get_verifier, verifier_names

__all__ = [
    "CandidateSet",
    "FieldMap",
    "Question",
    "Task",
    "Verdict",
    "get_verifier",
    "load_candidates",
    "load_task",
    "verifier_names",
]
