"""The one error type stylefit raises for bad input or an impossible request.

Its message is a single line that names the file/line or the item at fault; the CLI prints it
and exits non-zero. Anything else escaping is a bug.
"""


class StylefitError(Exception):
    """A user-facing error with a one-line message."""


class TooFewQuestions(StylefitError):
    """Too little left to work on once cut or over-long responses are left out: a selector's sample too
    small to score, or a strategy with no response to train on. The data's fault, not the setup's, so
    the live track records it as that selector's refusal of the case instead of stopping."""
