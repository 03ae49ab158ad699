"""The one error type stylefit raises for bad input or an impossible request.

Its message is a single line that names the file/line or the item at fault; the CLI prints it
and exits non-zero. Anything else escaping is a bug.
"""


class StylefitError(Exception):
    """A user-facing error with a one-line message."""


class TooFewQuestions(StylefitError):
    """A selector cannot score a sample this small (after the questions left out for a cut or over-long
    response): the sample's fault, not the setup's, so a benchmark records it as that selector's refusal
    of the case instead of stopping."""
