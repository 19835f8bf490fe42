"""Reference account services: the liquidation cascade written plainly on the reference engine.

Mirrors: rust/pmargin-core/src/accounts/
"""

from .cascade import cascade

__all__ = ["cascade"]
