"""Reference account services written plainly on the reference engine: the liquidation cascade
and the account status with its distances.

Mirrors: rust/pmargin-core/src/accounts/
"""

from .cascade import cascade
from .status import status

__all__ = ["cascade", "status"]
