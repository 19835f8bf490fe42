"""Sensitivity-based initial margin (ISDA SIMM) from a CRIF table, with Euler contributions.

:class:`SensitivityModel` holds a versioned parameter set (a data file such as
``presets/data/simm/2.6/10d.json``; :func:`pmargin.presets.simm` loads one) and margins CRIF rows
from any Arrow / Polars / pandas table or CSV file (:meth:`SensitivityModel.margin`), or a book
through its Greeks (:meth:`SensitivityModel.margin_book`, CRIF rows from :mod:`pmargin.crif`).
docs/simm.md has the exact formulas; the native core computes, ``pmargin.reference`` mirrors it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from . import _core
from .errors import MarginConfigError, MarginInputError
from .io import CRIF_TEXT_COLUMNS, TableLike, account_like, read_table, to_table
from .params import ParameterSetId, identify
from .simm_checks import check_parameters


@dataclass(frozen=True)
class SimmResult:
    """SIMM of every account (accounts sorted by id).

    ``accounts``: ``account``, ``simm``. ``product_classes``: per account and product class.
    ``risk_classes``: ``delta``, ``vega``, ``curvature`` and their sum ``margin`` per account,
    product class and risk class. ``buckets``: ``k`` (K_b) and ``ws_sum`` per margin type and
    bucket (IR buckets are currencies; FX has one bucket ""). ``contributions``: the CRIF as given
    plus ``contribution``, each row's Euler share (they add up to the account's SIMM).
    ``parameters``: identity of the parameter set; ``side``; ``mapping``: for a CRIF built from
    a book, which SIMM risk class and bucket each underlying was given and whether by default.
    """

    accounts: pa.Table
    product_classes: pa.Table
    risk_classes: pa.Table
    buckets: pa.Table
    contributions: pa.Table
    parameters: ParameterSetId
    side: str
    mapping: pa.Table | None = None


def _inverse_normal(p: float) -> float:
    return statistics.NormalDist().inv_cdf(p)


@dataclass(frozen=True)
class SensitivityModel:
    """A SIMM-style risk-weighting model over a versioned parameter set.

    ``parameters``: the data file's contents (risk weights, correlations, concentration
    thresholds); ``calculation_currency``: FX delta to it is not a risk, and it picks the FX risk
    weight and correlation row; ``side``: "call" (sensitivities as given) or "post" (negated:
    only curvature changes).
    """

    parameters: Mapping[str, Any]
    name: str = "ISDA SIMM"
    version: str = "2.6"
    calculation_currency: str = "USD"
    side: str = "call"
    identity: ParameterSetId = field(init=False)

    def __post_init__(self) -> None:
        if self.side not in ("call", "post"):
            raise MarginConfigError("side must be 'call' or 'post'", table="model", column="side")
        if not is_currency_code(self.calculation_currency):
            raise MarginConfigError(
                f"calculation_currency must be a currency code (three capital letters, as USD), "
                f"got {self.calculation_currency!r}",
                table="model",
                column="calculation_currency",
            )
        check_parameters(self.parameters)
        object.__setattr__(self, "identity", identify(self.name, self.version, self.parameters))

    def to_spec(self, account_column: str = "Portfolio", amount_column: str = "AmountUSD") -> dict[str, Any]:
        """The spec both engines read: the parameters plus two derived constants,
        ``sigma_multiplier = sqrt(365 / sigma_horizon_days) / N^-1(vega_quantile)`` and
        ``curvature_q = N^-1(curvature_quantile)``."""
        p = self.parameters
        try:
            sigma = math.sqrt(365.0 / float(p["sigma_horizon_days"])) / _inverse_normal(float(p["vega_quantile"]))
            q = _inverse_normal(float(p["curvature_quantile"]))
        except (KeyError, TypeError, ValueError, statistics.StatisticsError) as e:
            raise MarginConfigError(f"bad parameter set: {e}", table="model", column="parameters") from None
        return {
            "parameters": dict(p),
            "sigma_multiplier": sigma,
            "curvature_q": q,
            "calculation_currency": self.calculation_currency,
            "side": self.side,
            "account_column": account_column,
            "amount_column": amount_column,
        }

    def bucket_names(self) -> dict[str, list[str]]:
        """The Equity and Commodity buckets of the parameter set (the residual bucket included)."""
        out: dict[str, list[str]] = {}
        for rc, key in (("Equity", "equity"), ("Commodity", "commodity")):
            section = self.parameters.get(key)
            if isinstance(section, Mapping):
                residual = section.get("residual_bucket")
                out[rc] = [str(b) for b in section.get("buckets", [])] + ([str(residual)] if residual else [])
        return out

    def with_side(self, side: str) -> SensitivityModel:
        return SensitivityModel(self.parameters, self.name, self.version, self.calculation_currency, side)

    def margin(
        self,
        crif: TableLike | str | Path,
        *,
        account_column: str | None = None,
        amount_column: str | None = None,
        engine: str = "native",
    ) -> SimmResult:
        """SIMM of every account of ``crif`` (a table, or the path of a CSV / Parquet file);
        ``engine="reference"`` runs the pure-Python reference on the same prepared CRIF.
        ``account_column``: the column of account ids (default ``Portfolio``; a CRIF without it is
        one account, unless a column looks like an account column: then it is an error)."""
        run = _engine(engine)
        table, spec = self.prepare(crif, account_column, amount_column)
        return self.result(table, run(table, spec))

    def prepare(
        self, crif: TableLike | str | Path, account_column: str | None = None, amount_column: str | None = None
    ) -> tuple[pa.Table, dict[str, Any]]:
        """The CRIF as the engines read it (text columns as strings) and the spec."""
        named = (account_column,) if isinstance(account_column, str) else ()
        table = read_table(crif, "crif", named) if isinstance(crif, (str, Path)) else to_table(crif, "crif")
        account_column = checked_account_column(table, account_column)
        amount = amount_column or ("AmountUSD" if "AmountUSD" in table.column_names else "Amount")
        if account_column == amount:
            raise MarginConfigError(
                f"the account column cannot be the amount column {amount!r}", table="model", column="account_column"
            )
        # Both engines read these by name: a name given twice is an error, as the core words it.
        for name in (*CRIF_TEXT_COLUMNS, account_column, amount):
            copies = table.column_names.count(name)
            if copies > 1:
                raise MarginInputError(f"column {name!r} appears {copies} times", table="crif", column=name)
        table = normalise_crif(table, account_column)
        if amount_column is None and amount not in table.column_names:
            raise MarginInputError(
                f"missing column: the CRIF needs AmountUSD (or Amount, in {self.calculation_currency})",
                table="crif",
                column="AmountUSD",
            )
        if amount == "Amount" and "AmountCurrency" in table.column_names:
            # One vectorised pass (null counts as a different currency); the first bad row named.
            ccy = table.column("AmountCurrency")
            other = pc.fill_null(pc.not_equal(ccy, self.calculation_currency), True)
            if pc.any(other).as_py():
                row = pc.index(other, True).as_py()
                c = ccy[row].as_py()
                raise MarginInputError(
                    f"amount in {c!r} without an AmountUSD column: give AmountUSD, or amounts in "
                    f"{self.calculation_currency}",
                    table="crif",
                    column="AmountCurrency",
                    row=row,
                )
        return table, self.to_spec(account_column, amount)

    def result(self, table: pa.Table, tables: Mapping[str, pa.Table], mapping: pa.Table | None = None) -> SimmResult:
        column = tables["contributions"].column("contribution")
        # A CRIF with a contribution column of its own (pmargin's output, margined again): replaced.
        if "contribution" in table.column_names:
            contributions = table.set_column(table.column_names.index("contribution"), "contribution", column)
        else:
            contributions = table.append_column("contribution", column)
        return SimmResult(
            tables["accounts"],
            tables["product_classes"],
            tables["risk_classes"],
            tables["buckets"],
            contributions,
            self.identity,
            self.side,
            mapping,
        )

    def margin_book(
        self,
        positions: TableLike,
        instruments: TableLike,
        market: Any,
        *,
        mapping: Mapping[str, tuple[str, str]] | None = None,
        engine: str = "native",
    ) -> SimmResult:
        """SIMM of a book: delta and vega of each position per underlying in the CRIF layout
        (:func:`pmargin.crif.crif_from_book`), then :meth:`margin` (``engine`` as there)."""
        from .crif import checked_mapping, crif_from_book

        run = _engine(engine)
        mapping = checked_mapping(mapping, self.bucket_names())
        crif, used = crif_from_book(positions, instruments, market, mapping=mapping)
        table, spec = self.prepare(crif)
        result = self.result(table, run(table, spec), used)
        ids = crif.column("Portfolio")
        return integer_accounts(result, ids) if pa.types.is_integer(ids.type) else result


def integer_accounts(result: SimmResult, ids: pa.ChunkedArray) -> SimmResult:
    """``result`` of a CRIF whose ``Portfolio`` ids were integers (``ids``, the CRIF's column): the
    engines read them as text, so every ``account`` column is cast back to int64 and its rows put
    in numeric order (stable: the rows of one account keep their order)."""

    def numeric(t: pa.Table) -> pa.Table:
        account = pa.field("account", pa.int64(), nullable=False)
        t = t.set_column(t.column_names.index("account"), account, pc.cast(t.column("account"), pa.int64()))
        return t.take(pc.sort_indices(t, sort_keys=[("account", "ascending")]))

    contributions = result.contributions
    contributions = contributions.set_column(
        contributions.column_names.index("Portfolio"), "Portfolio", pc.cast(ids, pa.int64())
    )
    return replace(
        result,
        accounts=numeric(result.accounts),
        product_classes=numeric(result.product_classes),
        risk_classes=numeric(result.risk_classes),
        buckets=numeric(result.buckets),
        contributions=contributions,
    )


def _engine(engine: str) -> Callable[[pa.Table, dict[str, Any]], Mapping[str, pa.Table]]:
    """The SIMM of the native core or of the pure-Python reference (same tables, to 1e-9)."""
    if engine == "native":
        return _core.simm
    if engine == "reference":
        from .reference.sensitivity import simm_tables

        return simm_tables
    raise MarginConfigError(f"engine must be 'native' or 'reference', got {engine!r}", table="model", column="engine")


def is_currency_code(code: object) -> bool:
    """Three capital ASCII letters (ISO 4217 style): ``usd`` is not ``USD`` to SIMM, so it is refused."""
    return isinstance(code, str) and len(code) == 3 and all("A" <= c <= "Z" for c in code)


def checked_account_column(table: pa.Table, account_column: str | None) -> str:
    """The account column to read. A named column must exist. Without a name, ``Portfolio``; a CRIF
    without it is one account, unless another column looks like the account column (``portfolio``,
    ``PortfolioID``, ``account_id``, ...): margining such a CRIF as one account would net different
    counterparties, so that is an error naming the column to pass."""
    names = table.column_names
    if account_column is not None:
        if not isinstance(account_column, str):
            raise MarginConfigError(
                f"account_column must be a column name, got {account_column!r}", table="model", column="account_column"
            )
        if account_column not in names:
            raise MarginInputError(
                f"missing column: the account column {account_column!r} is not in the CRIF (columns: "
                f"{', '.join(names)})",
                table="crif",
                column=account_column,
            )
        return account_column
    if "Portfolio" not in names:
        for name in names:
            if account_like(name):
                raise MarginInputError(
                    f"missing column: no Portfolio column, but {name!r} looks like the account column: pass "
                    f"account_column={name!r} (or rename it Portfolio); a CRIF without one is margined as one account",
                    table="crif",
                    column="Portfolio",
                )
    return "Portfolio"


def as_strings(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A large_string, string_view or dictionary-of-strings column as plain strings (pyarrow has no
    ``take`` for string_view, so a dictionary's values are cast before it is decoded)."""
    if pa.types.is_dictionary(col.type):
        chunks = [
            pa.DictionaryArray.from_arrays(c.indices, c.dictionary.cast(pa.string())).dictionary_decode()
            for c in col.chunks
        ]
        return pa.chunked_array(chunks, pa.string())
    return col.cast(pa.string())


def normalise_crif(table: pa.Table, account_column: str) -> pa.Table:
    """Text columns (and the account column) as strings: string columns of any encoding, nulls and
    integers (their digits); any other type is an error naming the column. Other columns untouched."""
    for name in (*CRIF_TEXT_COLUMNS, account_column):
        if name in table.column_names:
            i = table.column_names.index(name)
            col = table.column(i)
            if not pa.types.is_string(col.type):
                if (
                    pa.types.is_large_string(col.type)
                    or pa.types.is_string_view(col.type)
                    or pa.types.is_dictionary(col.type)
                ):
                    col = as_strings(col)
                elif pa.types.is_null(col.type):
                    col = pa.chunked_array([pa.nulls(len(col), pa.string())])
                elif pa.types.is_integer(col.type):
                    # CSV readers infer a column of digits (buckets, numeric account ids) as integers.
                    col = pc.cast(col, pa.string())
                else:
                    raise MarginInputError(
                        f"expected a string column (or integers, read as their digits), got {col.type}",
                        table="crif",
                        column=name,
                    )
                table = table.set_column(i, name, col)
            if name in ("Bucket", "Label1", "Label2") and table.column(i).null_count:
                # Null and "" mean the same here; without nulls the core reads the column in place.
                table = table.set_column(i, name, pc.fill_null(table.column(i), ""))
    return table
