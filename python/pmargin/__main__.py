"""``python -m pmargin``: the same as the ``pmargin`` command."""

from .cli import main

raise SystemExit(main())
