"""``python -m pytest_lrmsafety.cli``: the ``lrmsafety`` command."""

from __future__ import annotations

from . import main

raise SystemExit(main())
