"""Python children that a test stops with SIGINT, as a Ctrl-C would.

A parent that ignores SIGINT (started by ``nohup``, by a CI runner, or with ``&`` in a script)
passes that on: the child starts with SIGINT ignored, and Python then leaves it ignored instead
of raising KeyboardInterrupt, so the test's SIGINT would never reach it. :func:`python_command`
starts Python with SIGINT's default handler restored first, whatever the test was launched by.
"""

from __future__ import annotations

import sys

_RESTORE_SIGINT = """\
import os, runpy, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
del sys.argv[0]
if sys.argv[0] == "-m":
    del sys.argv[0]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
    runpy.run_path(sys.argv[0], run_name="__main__")
"""


def python_command(*args: str) -> list[str]:
    """The command line for ``python ARGS`` (``-m MODULE ...`` or ``SCRIPT ...``) whose
    process handles SIGINT as Python's default does (KeyboardInterrupt)."""
    if not args or (args[0] == "-m" and len(args) < 2):
        raise ValueError("python_command needs '-m MODULE' or a script path")
    return [sys.executable, "-c", _RESTORE_SIGINT, *args]
