"""The self-contained offline HTML risk report (docs/accounts.md, "Report"):
:func:`write_html` (also ``MarginResult.to_html`` and ``pmargin report --html``)."""

from .html import write_html

__all__ = ["write_html"]
