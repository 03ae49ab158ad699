"""Whether a process of this machine still runs: what decides that a claim or a temporary file
left by a killed process may be taken over."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
