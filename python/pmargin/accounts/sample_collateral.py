"""A plausible, documented collateral set for the sample book (README, docs/accounts.md): each
account posts ``cover`` x its initial margin (default 1.3: 30% excess, typical of a retail
derivatives book), every fifth account in first-seen order starting with the first and every
fifth starting with the second in BTC (priced at the sample spot, haircut 10%), the others in USD
cash. Deterministic: no random draw."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

#: ``asset, price, haircut`` of the sample collateral.
SAMPLE_ASSETS = pa.table({"asset": ["USD", "BTC"], "price": [1.0, 60_000.0], "haircut": [0.0, 0.1]})


def sample_collateral(result: Any, cover: float = 1.3) -> tuple[pa.Table, pa.Table]:
    """``(collateral, assets)`` for the accounts of ``result``."""
    ids = result.accounts.column("account_id").to_pylist()
    im = result.accounts.column("initial_margin").to_pylist()
    in_btc = [k % 5 in (0, 1) for k in range(len(ids))]
    amounts = [cover * m / (60_000.0 * 0.9) if btc else cover * m for m, btc in zip(im, in_btc, strict=True)]
    collateral = pa.table(
        {
            "account_id": result.accounts.column("account_id"),
            "asset": ["BTC" if btc else "USD" for btc in in_btc],
            "amount": pa.array(amounts, pa.float64()),
        }
    )
    return collateral, SAMPLE_ASSETS
