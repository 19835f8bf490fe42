"""``python -m pmargin``: the same as the ``pmargin`` command."""

from .cli import console_main

raise SystemExit(console_main())
