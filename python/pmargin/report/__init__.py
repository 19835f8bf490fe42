"""The self-contained offline HTML risk report (docs/accounts.md, "Report"):
:func:`write_html` (also ``MarginResult.to_html`` and ``pmargin report --html``) and
:func:`check_report`, its checks of the destination and arguments before any work."""

from .html import check_report, write_html

__all__ = ["check_report", "write_html"]
