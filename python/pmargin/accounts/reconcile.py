"""Reconciliation with a venue's margin statement (docs/accounts.md, "Reconcile"): ours against
theirs per account and per component (matched by column name), the component explaining most
of the difference, and the positions that move most if it were matched."""

from __future__ import annotations

import math
import numbers
from decimal import Decimal
from typing import Any, NamedTuple

import pyarrow as pa

from ..columns import describe_type, is_number_type, text_values
from ..errors import MarginConfigError, MarginInputError
from ..io import to_table
from ..run_source import plain_ids
from ..types import TableLike
from .collateral import account_key

#: Statement columns that are not components.
_NOT_COMPONENTS = ("account_id", "initial_margin")
MISSING_OURS, MISSING_THEIRS = "missing_in_ours", "missing_in_statement"


class ReconcileResult(NamedTuple):
    """``accounts``: per account (ours first-seen, then the statement's others) ``account_id``,
    ``ours``, ``theirs``, ``difference`` (ours - theirs), ``within_tolerance``,
    ``explaining_component`` (the component with the largest |difference|, or
    ``missing_in_ours`` / ``missing_in_statement``) and ``explaining_difference``.
    ``components``: per account and statement component ``ours``, ``theirs``, ``difference``
    (``ours`` null when we have no component of that name). ``positions``: per disputed account,
    up to ``top`` positions whose contribution moves most if the explaining component were
    matched: ``change_if_matched`` = -difference x contribution / (sum of the component's
    contributions). ``disputes``: the rows of ``accounts`` outside tolerance."""

    accounts: pa.Table
    components: pa.Table
    positions: pa.Table

    @property
    def disputes(self) -> pa.Table:
        return self.accounts.filter(pa.compute.invert(self.accounts.column("within_tolerance")))


def _our_components(result: Any) -> dict[Any, dict[str, float]]:
    """Per account every numeric column of ``result.accounts`` (a venue model's components) and
    each underlying's requirement under the underlying's name."""
    out: dict[Any, dict[str, float]] = {}
    accounts = result.accounts
    ids = accounts.column("account_id").to_pylist()
    for a in ids:
        out[a] = {}
    for field in accounts.schema:
        if field.name in _NOT_COMPONENTS or not pa.types.is_floating(field.type):
            continue
        for a, x in zip(ids, accounts.column(field.name).to_pylist(), strict=True):
            if x is not None:
                out[a][field.name] = x
    u = result.by_underlying
    if "requirement" in u.column_names:
        for a, name, x in zip(
            *(u.column(c).to_pylist() for c in ("account_id", "underlying", "requirement")), strict=True
        ):
            out.setdefault(a, {})[name] = x
    return out


def _component_names(result: Any, parts: dict[Any, dict[str, float]]) -> set[str]:
    """Every name a statement column is matched against: the float columns of ``result.accounts``
    and every underlying (of the result's market when it carries it, and of ``by_underlying``)."""
    names = {f.name for f in result.accounts.schema if f.name not in _NOT_COMPONENTS and pa.types.is_floating(f.type)}
    for components in parts.values():
        names.update(components)
    src = getattr(result, "source", None)
    market = getattr(src, "market", None)
    if market is not None:
        names.update(u for u in market.underlyings.column("underlying").to_pylist() if isinstance(u, str))
    return names


def _number(x: Any, column: str, row: int) -> float | None:
    if x is None:
        return None
    if isinstance(x, Decimal):  # a decimal128 / decimal256 column: the nearest float
        x = float(x)
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        raise MarginInputError(f"must be a finite number, got {x!r}", table="statement", column=column, row=row)
    return float(x)


def reconcile(
    result: Any,
    statement: TableLike,
    *,
    tolerance: float = 0.01,
    relative_tolerance: float = 0.0,
    top: int = 5,
) -> ReconcileResult:
    """Reconcile ``result`` (any model) with ``statement`` (``account_id``, ``initial_margin``,
    and any component columns, matched to ours by name: a venue model's component columns, or an
    underlying's name for its requirement). Columns that are not numbers (integer, float or
    decimal), such as a currency or a date, are not components and are ignored, except one named
    like one of our components (a float column of ``result.accounts`` or an underlying): that is
    an error (``statement.<column>``: a component column must be numeric), never left out. An account is
    within tolerance when ``|ours - theirs| <= max(tolerance, relative_tolerance x |theirs|)``.
    Statement ids are matched to ours by value (an integer and the text of its digits are one
    account: :func:`pmargin.accounts.collateral.account_key`)."""
    for name, x in (("tolerance", tolerance), ("relative_tolerance", relative_tolerance)):
        if not (isinstance(x, int | float) and math.isfinite(x) and x >= 0):
            raise MarginInputError(f"must be a number >= 0, got {x!r}", table="reconcile", column=name)
    if not (isinstance(top, numbers.Integral) and not isinstance(top, bool) and top >= 0):
        raise MarginInputError(f"must be an integer >= 0, got {top!r}", table="reconcile", column="top")
    top = int(top)
    table = to_table(statement, "statement")
    for column in _NOT_COMPONENTS:
        if column not in table.column_names:
            raise MarginInputError("missing column", table="statement", column=column)
    parts = _our_components(result)
    known = _component_names(result, parts)
    components = []
    for f in table.schema:
        if f.name in _NOT_COMPONENTS or f.name == "maintenance_margin":
            continue
        if is_number_type(f.type):
            components.append(f.name)
        elif f.name in known and not pa.types.is_null(f.type):  # null: an empty column, nothing to compare
            # Named like one of our components but not a number ("12,345.60" in a CSV): an
            # error, never a component silently left out of the comparison.
            raise MarginInputError(
                f"a component column must be numeric, got {describe_type(f.type)}: {f.name!r} is one of our "
                "components (cast it to a number)",
                table="statement",
                column=f.name,
            )
    id_type = result.accounts.schema.field("account_id").type
    theirs: dict[Any, float | None] = {}
    theirs_parts: dict[Any, dict[str, float | None]] = {}
    initial = table.column("initial_margin").to_pylist()
    parts_in = {c: table.column(c).to_pylist() for c in components}
    for row, a in enumerate(text_values(table.column("account_id"), "statement", "account_id")):
        if a is None:
            raise MarginInputError("must not be null", table="statement", column="account_id", row=row)
        key = account_key(a, id_type, "statement", row)
        if key in theirs:
            raise MarginInputError(f"duplicate account {a!r}", table="statement", column="account_id", row=row)
        im = _number(initial[row], "initial_margin", row)
        if im is None:
            raise MarginInputError("must not be null", table="statement", column="initial_margin", row=row)
        theirs[key] = im
        theirs_parts[key] = {c: _number(parts_in[c][row], c, row) for c in components}
    ours = dict(
        zip(
            result.accounts.column("account_id").to_pylist(),
            result.accounts.column("initial_margin").to_pylist(),
            strict=True,
        )
    )
    ids = list(ours) + [a for a in theirs if a not in ours]
    _check_fits([a for a in theirs if a not in ours], list(theirs), id_type)
    acc_rows, comp_rows, explaining = [], [], {}
    for a in ids:
        o, t = ours.get(a), theirs.get(a)
        diff = None if o is None or t is None else o - t
        within = diff is not None and abs(diff) <= max(tolerance, relative_tolerance * abs(t or 0.0))
        best: tuple[str | None, float | None] = (
            MISSING_OURS if o is None else MISSING_THEIRS if t is None else None,
            None,
        )
        if diff is not None:
            for c in components:
                ours_c, theirs_c = parts.get(a, {}).get(c), theirs_parts[a][c]
                d = None if ours_c is None or theirs_c is None else ours_c - theirs_c
                comp_rows.append({"account_id": a, "component": c, "ours": ours_c, "theirs": theirs_c, "difference": d})
                if d is not None and (best[1] is None or abs(d) > abs(best[1])):
                    best = (c, d)
        explaining[a] = best
        acc_rows.append(
            {
                "account_id": a,
                "ours": o,
                "theirs": t,
                "difference": diff,
                "within_tolerance": within,
                "explaining_component": best[0],
                "explaining_difference": best[1],
            }
        )
    position_rows = _moving_positions(result, [r for r in acc_rows if not r["within_tolerance"]], explaining, top)
    return ReconcileResult(
        _table(
            acc_rows,
            id_type,
            {
                "ours": pa.float64(),
                "theirs": pa.float64(),
                "difference": pa.float64(),
                "within_tolerance": pa.bool_(),
                "explaining_component": pa.string(),
                "explaining_difference": pa.float64(),
            },
        ),
        _table(
            comp_rows,
            id_type,
            {"component": pa.string(), "ours": pa.float64(), "theirs": pa.float64(), "difference": pa.float64()},
        ),
        _table(
            position_rows,
            id_type,
            {
                "component": pa.string(),
                "instrument_id": pa.string(),
                "quantity": pa.float64(),
                "contribution": pa.float64(),
                "change_if_matched": pa.float64(),
            },
        ),
    )


def _check_fits(extra: list[Any], order: list[Any], id_type: pa.DataType) -> None:
    """Statement-only ids must fit our id type (digits beyond the int64 range do not): an error at
    the row rather than pyarrow's."""
    for a in extra:
        try:
            pa.array([a], id_type)
        except (pa.ArrowException, OverflowError):
            raise MarginInputError(
                f"account id {a!r} does not fit the margin result's account ids ({id_type})",
                table="statement",
                column="account_id",
                row=order.index(a),
            ) from None


def _table(rows: list[dict[str, Any]], id_type: pa.DataType, types: dict[str, pa.DataType]) -> pa.Table:
    columns = {"account_id": pa.array([r["account_id"] for r in rows], id_type)}
    for name, t in types.items():
        columns[name] = pa.array([r[name] for r in rows], t)
    return pa.table(columns)


def _moving_positions(
    result: Any, disputed: list[dict[str, Any]], explaining: dict[Any, tuple[str | None, float | None]], top: int
) -> list[dict[str, Any]]:
    """Positions of each disputed account ranked by |change if the explaining component were
    matched|: the component's difference shared in proportion to each position's contribution
    (for an underlying's requirement: the positions on that underlying)."""
    by_position = result.by_position
    wanted = [r for r in disputed if explaining[r["account_id"]][1] is not None]
    if not wanted:
        return []
    if by_position is None:
        src = getattr(result, "source", None)
        if src is None:
            return []
        positions = plain_ids(src.positions)  # pyarrow's is_in has no string_view kernel (Polars)
        ids = pa.array([r["account_id"] for r in wanted], positions.schema.field("account_id").type)
        rows = positions.filter(pa.compute.is_in(positions.column("account_id"), value_set=ids))
        engine = src.engine(src.instruments, src.market, src.model, limits=src.limits)
        try:
            by_position = engine.margin(rows, by_position=True).by_position
        except MarginConfigError:
            # The model has no attribution (SPAN, TIMS, Deribit): rank by incremental margin.
            by_position = _incremental_by_position(engine, rows)
    src = getattr(result, "source", None)
    underlying_of: dict[str, str] = {}
    if src is not None:
        inst = src.instruments
        underlying_of = dict(
            zip(inst.column("instrument_id").to_pylist(), inst.column("underlying").to_pylist(), strict=True)
        )
    held: dict[Any, list[tuple[str, float, float]]] = {}
    for a, i, q, c in zip(
        *(by_position.column(x).to_pylist() for x in ("account_id", "instrument_id", "quantity", "contribution")),
        strict=True,
    ):
        held.setdefault(a, []).append((i, q, c))
    out = []
    for r in wanted:
        a = r["account_id"]
        component, diff = explaining[a]
        assert diff is not None
        legs = [p for p in held.get(a, []) if underlying_of.get(p[0]) == component] or held.get(a, [])
        total = math.fsum(p[2] for p in legs)
        if total == 0.0:
            continue
        moved = sorted(((i, q, c, -diff * c / total) for i, q, c in legs), key=lambda x: -abs(x[3]))
        for i, q, c, change in moved[:top]:
            out.append(
                {
                    "account_id": a,
                    "component": component,
                    "instrument_id": i,
                    "quantity": q,
                    "contribution": c,
                    "change_if_matched": change,
                }
            )
    return out


def _incremental_by_position(engine: Any, rows: pa.Table) -> pa.Table:
    """Each netted position's incremental margin (the account's initial margin minus the margin of
    the account without it), for models that define no attribution. One engine call margins every
    leave-one-out book, each as an account of its own. Incremental margins do not add up to the
    account's margin; ``change_if_matched`` shares the difference in proportion to them."""
    netted = rows.group_by(["account_id", "instrument_id"], use_threads=False).aggregate([("quantity", "sum")])
    accounts = netted.column("account_id").to_pylist()
    instruments = netted.column("instrument_id").to_pylist()
    quantities = netted.column("quantity_sum").to_pylist()
    books: list[tuple[int, Any, float]] = []  # (book number, instrument, quantity)
    legs: list[tuple[Any, Any, float, int]] = []  # (account, instrument, quantity, book without it)
    members: dict[Any, list[int]] = {}
    for k, a in enumerate(accounts):
        members.setdefault(a, []).append(k)
    whole: dict[Any, int] = {}
    next_book = 0
    for a, ks in members.items():
        whole[a], next_book = next_book, next_book + 1
        books.extend((whole[a], instruments[k], quantities[k]) for k in ks)
        for k in ks:
            legs.append((a, instruments[k], quantities[k], next_book))
            books.extend((next_book, instruments[j], quantities[j]) for j in ks if j != k)
            next_book += 1
    table = pa.table(
        {
            "account_id": pa.array([b for b, _, _ in books], pa.int64()),
            "instrument_id": pa.array([i for _, i, _ in books], rows.schema.field("instrument_id").type),
            "quantity": pa.array([q for _, _, q in books], pa.float64()),
        }
    )
    margins = dict(
        zip(
            *(engine.margin(table).accounts.column(c).to_pylist() for c in ("account_id", "initial_margin")),
            strict=True,
        )
    )
    return pa.table(
        {
            "account_id": pa.array([a for a, _, _, _ in legs], rows.schema.field("account_id").type),
            "instrument_id": pa.array([i for _, i, _, _ in legs], rows.schema.field("instrument_id").type),
            "quantity": pa.array([q for _, _, q, _ in legs], pa.float64()),
            "contribution": pa.array([margins[whole[a]] - margins.get(b, 0.0) for a, _, _, b in legs], pa.float64()),
        }
    )
