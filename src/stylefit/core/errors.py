"""The one error type stylefit raises for bad input or an impossible request.

Its message is a single line that names the file/line or the item at fault; the CLI prints it
and exits non-zero. Anything else escaping is a bug.
"""


class StylefitError(Exception):
    """A user-facing error with a one-line message."""
