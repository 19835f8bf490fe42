"""CSV inputs of the command line (:func:`pmargin.io.read_table`): ids and other text columns are
read as strings exactly as written, never guessed as numbers (``00123`` and ``123`` are two
accounts, ``0x1F`` stays ``0x1F``), while number and time columns keep their types."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from pmargin.cli import main
from pmargin.columns import TIME_RANGE
from pmargin.errors import MarginInputError
from pmargin.io import read_table
from pmargin.presets import simm

AS_OF = "2026-06-30T08:00:00Z"
SPOT = 60_000.0
#: Initial margin of one BTC on the standard grid (a 15% move of the spot).
ONE_BTC = 0.15 * SPOT


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def market_args(folder: Path, instrument_id: str = "BTC-SPOT", underlying: str = "BTC") -> list[str]:
    instruments = write(folder / "inst.csv", f"instrument_id,underlying,kind\n{instrument_id},{underlying},spot\n")
    underlyings = write(folder / "und.csv", f"underlying,spot\n{underlying},{SPOT}\n")
    return ["--instruments", str(instruments), "--underlyings", str(underlyings), "--as-of", AS_OF]


def margins(path: Path) -> dict[object, float]:
    accounts = read_table(path, "accounts")
    assert accounts.schema.field("account_id").type == pa.string()
    ids, ims = accounts.column("account_id").to_pylist(), accounts.column("initial_margin").to_pylist()
    return dict(zip(ids, ims, strict=True))


MIXED_IDS = "account_id,instrument_id,quantity\n00123,BTC-SPOT,1\n123,BTC-SPOT,2\n0x1F,BTC-SPOT,1\n"


@pytest.mark.parametrize(
    "flags",
    [[], ["--chunk-positions", "1"], ["--grouped"]],
    ids=["one-chunk", "chunked", "grouped"],
)
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_account_ids_with_leading_zeros_are_different_accounts(tmp_path: Path, flags: list[str], suffix: str) -> None:
    positions = write(tmp_path / "pos.csv", MIXED_IDS)
    out = tmp_path / f"out{suffix}"
    argv = ["margin", "--positions", str(positions), *market_args(tmp_path), "--out", str(out), *flags]
    assert main(argv) == 0
    assert margins(out) == pytest.approx({"00123": ONE_BTC, "123": 2 * ONE_BTC, "0x1F": ONE_BTC})


def test_accounts_seen_again_are_regrouped_with_their_ids_as_written(tmp_path: Path) -> None:
    # Not grouped: 00123 comes back after 123, so the run starts over through the spill files.
    text = "account_id,instrument_id,quantity\n00123,BTC-SPOT,1\n123,BTC-SPOT,2\n00123,BTC-SPOT,3\n"
    positions = write(tmp_path / "pos.csv", text)
    out = tmp_path / "out.csv"
    argv = ["margin", "--positions", str(positions), *market_args(tmp_path), "--out", str(out)]
    assert main([*argv, "--chunk-positions", "1"]) == 0
    assert margins(out) == pytest.approx({"00123": 4 * ONE_BTC, "123": 2 * ONE_BTC})


def test_the_printed_summary_keeps_the_ids_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    positions = write(tmp_path / "pos.csv", MIXED_IDS)
    assert main(["margin", "--positions", str(positions), *market_args(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "(3 accounts)" in out
    for account in ("00123", "0x1F"):
        assert any(line.startswith(f"│ {account} ") for line in out.splitlines()), out


def test_all_numeric_account_ids_margin_and_stay_text(tmp_path: Path) -> None:
    text = "account_id,instrument_id,quantity\n7,BTC-SPOT,1\n0007,BTC-SPOT,-1\n12,BTC-SPOT,2\n"
    positions = write(tmp_path / "pos.csv", text)
    out = tmp_path / "out.parquet"
    assert main(["margin", "--positions", str(positions), *market_args(tmp_path), "--out", str(out)]) == 0
    assert margins(out) == pytest.approx({"7": ONE_BTC, "0007": ONE_BTC, "12": 2 * ONE_BTC})


def test_a_numeric_looking_instrument_id_and_underlying_margin(tmp_path: Path) -> None:
    positions = write(tmp_path / "pos.csv", "account_id,instrument_id,quantity\nA,00042,1\nA,42,1\n")
    instruments = write(tmp_path / "inst.csv", "instrument_id,underlying,kind\n00042,007,spot\n42,7,spot\n")
    underlyings = write(tmp_path / "und.csv", f"underlying,spot\n007,{SPOT}\n7,{2 * SPOT}\n")
    out = tmp_path / "out.parquet"
    argv = ["margin", "--positions", str(positions), "--instruments", str(instruments)]
    argv += ["--underlyings", str(underlyings), "--as-of", AS_OF, "--out", str(out), "--by-position"]
    assert main(argv) == 0
    # Two instruments on two underlyings (007 and 7 are not one), each long: the margins add up.
    assert margins(out) == pytest.approx({"A": ONE_BTC + 2 * ONE_BTC})
    by_underlying = read_table(tmp_path / "out.by_underlying.parquet", "by_underlying")
    assert sorted(by_underlying.column("underlying").to_pylist()) == ["007", "7"]
    by_position = read_table(tmp_path / "out.by_position.parquet", "by_position")
    assert by_position.column("instrument_id").to_pylist() == ["00042", "42"]


def test_a_numeric_looking_option_id_reads_its_vol(tmp_path: Path) -> None:
    positions = write(tmp_path / "pos.csv", "account_id,instrument_id,quantity\n1,0100,-1\n")
    instruments = write(
        tmp_path / "inst.csv",
        "instrument_id,underlying,kind,option_type,strike,expiry\n0100,BTC,option,call,60000,2026-07-31T08:00:00\n",
    )
    underlyings = write(tmp_path / "und.csv", f"underlying,spot\nBTC,{SPOT}\n")
    vols = write(tmp_path / "vols.csv", "instrument_id,implied_vol\n0100,0.6\n")
    out = tmp_path / "out.parquet"
    argv = ["margin", "--positions", str(positions), "--instruments", str(instruments), "--underlyings"]
    argv += [str(underlyings), "--vols", str(vols), "--as-of", AS_OF, "--out", str(out)]
    assert main(argv) == 0
    (account, im), *_ = margins(out).items()
    assert account == "1" and im > 0


def test_csv_text_columns_are_strings_and_numbers_stay_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path / "inst.csv",
        "instrument_id,underlying,kind,option_type,strike,expiry,multiplier,product_group\n"
        "00042,0x1F,option,call,100,2026-07-31T08:00:00,1,001\n"
        "NA,null,future,,,2026-07-31T08:00:00,NA,002\n",
    )
    table = read_table(path, "instruments")
    for name in ("instrument_id", "underlying", "kind", "option_type", "product_group"):
        assert table.schema.field(name).type == pa.string(), name
    assert table.column("instrument_id").to_pylist() == ["00042", "NA"]
    assert table.column("underlying").to_pylist() == ["0x1F", "null"]  # only an empty cell is null
    assert table.column("option_type").to_pylist() == ["call", None]
    assert table.column("product_group").to_pylist() == ["001", "002"]  # a range_column group
    assert pa.types.is_integer(table.schema.field("strike").type)
    assert pa.types.is_timestamp(table.schema.field("expiry").type)
    # A number column keeps pyarrow's null spellings (NA is a null multiplier, not text).
    assert table.column("multiplier").to_pylist() == [1, None]


def test_other_tables_read_their_ids_as_text(tmp_path: Path) -> None:
    statement = read_table(write(tmp_path / "s.csv", "account_id,initial_margin\n00123,10\n"), "statement")
    assert statement.column("account_id").to_pylist() == ["00123"]
    assert pa.types.is_integer(statement.schema.field("initial_margin").type)
    crif = read_table(
        write(
            tmp_path / "crif.csv",
            "Portfolio,RiskType,Qualifier,Bucket,Label1,Label2,AmountUSD\n007,Risk_FX,0012,1,,,5\n",
        ),
        "crif",
    )
    assert crif.column("Portfolio").to_pylist() == ["007"]
    assert crif.column("Qualifier").to_pylist() == ["0012"]
    assert crif.column("Bucket").to_pylist() == ["1"]
    assert pa.types.is_integer(crif.schema.field("AmountUSD").type)
    # An account column under another name: looked-alike names, or the names given.
    other = write(tmp_path / "crif2.csv", "Account_ID,Desk,AmountUSD\n00123,0042,5\n")
    assert read_table(other, "crif").column("Account_ID").to_pylist() == ["00123"]
    assert read_table(other, "crif", text_columns=["Desk"]).column("Desk").to_pylist() == ["0042"]


def test_a_bad_byte_or_a_non_number_in_a_csv_is_named_with_its_row(tmp_path: Path) -> None:
    positions = tmp_path / "positions.csv"
    positions.write_bytes(b"account_id,instrument_id,quantity\na,BTC,1\n\xff,BTC,2\n")
    with pytest.raises(MarginInputError) as e:
        read_table(positions, "positions")
    assert (e.value.table, e.value.column, e.value.row, e.value.reason) == (
        "positions",
        "account_id",
        1,
        "not valid UTF-8 text",
    )
    crif = tmp_path / "crif.csv"
    header = b"Portfolio,ProductClass,RiskType,Qualifier,Bucket,Label1,Label2,AmountUSD\n"
    crif.write_bytes(header + b"P,Equity,Risk_Equity,X,1,,,100\nP,Equity,Risk_Equity,\xfe,1,,,100\n")
    with pytest.raises(MarginInputError) as e:
        simm("2.6").margin(crif)
    assert (e.value.table, e.value.column, e.value.row) == ("crif", "Qualifier", 1)
    crif.write_bytes(header + b"P,Equity,Risk_Equity,X,1,,,100\nP,Equity,Risk_Equity,Y,1,,,abc\n")
    with pytest.raises(MarginInputError) as e:
        simm("2.6").margin(crif)
    assert (e.value.table, e.value.column, e.value.row, e.value.reason) == (
        "crif",
        "AmountUSD",
        1,
        "not a number: 'abc'",
    )
    # Text as written is still text; the numbers are numbers.
    crif.write_bytes(header + "P,Equity,Risk_Equity,Zürich,1,,,100\n".encode())
    table = read_table(crif, "crif")
    assert table.column("Qualifier").to_pylist() == ["Zürich"] and table.column("AmountUSD").to_pylist() == [100]


def test_numbers_a_csv_reader_would_not_read_are_named(tmp_path: Path) -> None:
    header = b"Portfolio,ProductClass,RiskType,Qualifier,Bucket,Label1,Label2,AmountUSD\n"
    crif = tmp_path / "crif.csv"
    for cell in ("1_000", "\u0663"):
        crif.write_bytes(header + b"P,Equity,Risk_Equity,X,1,,,100\n" + f"P,Equity,Risk_Equity,Y,1,,,{cell}\n".encode())
        with pytest.raises(MarginInputError) as e:
            read_table(crif, "crif")
        assert (e.value.column, e.value.row, e.value.reason) == ("AmountUSD", 1, f"not a number: {cell!r}")


def test_a_header_without_its_newline_and_an_ipc_stream(tmp_path: Path) -> None:
    header = tmp_path / "positions.csv"
    header.write_bytes(b"account_id,instrument_id,quantity")
    assert read_table(header, "positions").column_names == ["account_id", "instrument_id", "quantity"]
    assert read_table(header, "positions").num_rows == 0
    last = tmp_path / "last.csv"
    last.write_bytes(b"account_id,instrument_id,quantity\na,BTC,1")
    assert read_table(last, "positions").to_pylist() == [{"account_id": "a", "instrument_id": "BTC", "quantity": 1}]
    table = pa.table({"account_id": ["a"], "quantity": [2.5]})
    stream = tmp_path / "positions.arrow"
    with pa.OSFile(str(stream), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    assert read_table(stream, "positions").equals(table)


def test_a_binary_file_named_csv_is_named_without_its_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Parquet, Arrow or other binary file under a .csv name: the error names the file and says
    what it is, without quoting its bytes (the CSV parser's message would)."""
    import pyarrow.parquet as pq

    table = pa.table({"account_id": ["a"], "instrument_id": ["BTC-SPOT"], "quantity": [1.0]})
    parquet, arrow, other, utf16 = (tmp_path / f"{name}.csv" for name in ("parquet", "arrow", "other", "utf16"))
    pq.write_table(table, parquet)
    with pa.OSFile(str(arrow), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    other.write_bytes(b"account_id,instrument_id,quantity\na,BTC-SPOT,\x00\x01\x02\n")
    utf16.write_bytes("account_id,instrument_id,quantity\na,BTC-SPOT,1\n".encode("utf-16"))
    for path, what in (
        (parquet, "it is a Parquet file (name it .parquet)"),
        (arrow, "it is an Arrow IPC file (name it .arrow)"),
        (other, "it is a binary file (it holds NUL bytes)"),
        (utf16, "it is UTF-16 text (save it as UTF-8)"),
    ):
        with pytest.raises(MarginInputError) as e:
            read_table(path, "positions")
        assert str(e.value) == f"positions: {path} does not look like CSV text: {what}"
        assert main(["margin", "--positions", str(path), *market_args(tmp_path)]) == 2
        assert capsys.readouterr().err == f"error: positions: {path} does not look like CSV text: {what}\n"


def read_error(path: Path, name: str) -> tuple[str | None, str | None, int | None, str]:
    with pytest.raises(MarginInputError) as e:
        read_table(path, name)
    return (e.value.table, e.value.column, e.value.row, e.value.reason)


def test_hexadecimal_number_cells_are_errors_never_integers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """pyarrow reads a column of integers and hex cells as int64 (0x10 -> 16, 0xFFFFFFFFFFFFFFFF
    -> -1): every number column is checked cell by cell with pmargin's rule first."""
    positions = write(
        tmp_path / "pos.csv", "account_id,instrument_id,quantity\nA,BTC-SPOT,1\nB,BTC-SPOT,0xFFFFFFFFFFFFFFFF\n"
    )
    assert read_error(positions, "positions") == ("positions", "quantity", 1, "not a number: '0xFFFFFFFFFFFFFFFF'")
    assert main(["margin", "--positions", str(positions), *market_args(tmp_path), "--quiet"]) == 2
    assert capsys.readouterr().err == "error: positions.quantity, row 1: not a number: '0xFFFFFFFFFFFFFFFF'\n"
    write(positions, "account_id,instrument_id,quantity\nA,BTC-SPOT,1\nB,BTC-SPOT,2\nC,BTC-SPOT,0X10\n")
    assert read_error(positions, "positions") == ("positions", "quantity", 2, "not a number: '0X10'")
    underlyings = write(tmp_path / "und.csv", "underlying,spot,rate\nBTC,0xEA60,0\n")
    assert read_error(underlyings, "underlyings") == ("underlyings", "spot", 0, "not a number: '0xEA60'")
    instruments = write(
        tmp_path / "inst.csv", "instrument_id,underlying,kind,multiplier\nF,BTC,future,1\nG,BTC,future,0x1\n"
    )
    assert read_error(instruments, "instruments") == ("instruments", "multiplier", 1, "not a number: '0x1'")
    vols = write(tmp_path / "vols.csv", "instrument_id,implied_vol\nC,0x1\n")
    assert read_error(vols, "vols") == ("vols", "implied_vol", 0, "not a number: '0x1'")
    # A boolean-looking column is not a number either (pyarrow would read it as booleans).
    write(positions, "account_id,instrument_id,quantity\nA,BTC-SPOT,true\n")
    assert read_error(positions, "positions") == ("positions", "quantity", 0, "not a number: 'true'")
    crif = write(
        tmp_path / "crif.csv",
        "Portfolio,ProductClass,RiskType,Qualifier,Bucket,Label1,Label2,AmountUSD\n"
        "P,RatesFX,Risk_FX,EUR,,,,0xFFFFFFFFFFFFFFFF\nQ,RatesFX,Risk_FX,EUR,,,,1\n",
    )
    with pytest.raises(MarginInputError) as e:
        simm("2.6").margin(crif)
    assert str(e.value) == "crif.AmountUSD, row 0: not a number: '0xFFFFFFFFFFFFFFFF'"
    # The accounts tables' numbers too (collateral, assets, a venue statement's margins).
    collateral = write(tmp_path / "col.csv", "account_id,asset,amount\nA,USD,100\nB,USD,0x10\n")
    assert read_error(collateral, "collateral") == ("collateral", "amount", 1, "not a number: '0x10'")
    assets = write(tmp_path / "assets.csv", "asset,price,haircut\nUSD,1,0x0\n")
    assert read_error(assets, "assets") == ("assets", "haircut", 0, "not a number: '0x0'")
    statement = write(tmp_path / "stmt.csv", "account_id,initial_margin\nA,0xFF\n")
    assert read_error(statement, "statement") == ("statement", "initial_margin", 0, "not a number: '0xFF'")


def test_plain_numbers_read_exactly_as_pyarrow_reads_them(tmp_path: Path) -> None:
    """The check changes no number: integers stay int64, decimals the same doubles, bit for bit,
    and pyarrow's null spellings stay nulls."""
    import random

    import pyarrow.csv as pcsv

    rng = random.Random(11)
    cells = [str(rng.randint(-(2**63), 2**63 - 1)) for _ in range(200)] + ["007", " 12 "]
    decimals = [
        f"{rng.choice(['', '-', '+'])}{rng.randint(0, 10 ** rng.randint(1, 25))}.{rng.randint(0, 10**12)}"
        f"e{rng.randint(-30, 30)}"
        for _ in range(2000)
    ]
    for values, kind in ((cells, pa.int64()), (decimals + cells + ["NA", "", ".5", "5.", "1E+2", "+5"], pa.float64())):
        path = write(tmp_path / "und.csv", "underlying,spot\n" + "".join(f"U{i},{v}\n" for i, v in enumerate(values)))
        table = read_table(path, "underlyings")
        expected = pcsv.read_csv(path).column("spot")
        assert table.schema.field("spot").type == kind == expected.type
        assert table.column("spot").equals(expected)


EXPIRY_FORMATS = (
    "expected ISO 8601: a date (2026-09-25, midnight UTC) or a date and time (2026-09-25T08:00:00, "
    "naive = UTC, or with Z or an offset such as +02:00; up to 9 digits of a second)"
)


@pytest.mark.parametrize("at", [0, 500])
def test_an_odd_time_cell_is_named_with_its_row_wherever_it_lies(tmp_path: Path, at: int) -> None:
    rows = [f"F{i},BTC,future,2026-09-25T08:00:00Z" for i in range(501)]
    rows[at] = f"F{at},BTC,future,25/09/2026"
    path = write(tmp_path / "inst.csv", "instrument_id,underlying,kind,expiry\n" + "\n".join(rows) + "\n")
    assert read_error(path, "instruments") == (
        "instruments",
        "expiry",
        at,
        f"not an ISO 8601 time: '25/09/2026'; {EXPIRY_FORMATS}",
    )
    rows[at] = f"F{at},BTC,future,3000-01-01"
    write(path, "instrument_id,underlying,kind,expiry\n" + "\n".join(rows) + "\n")
    assert read_error(path, "instruments") == ("instruments", "expiry", at, f"time is {TIME_RANGE}")


def test_time_spellings_may_be_mixed_in_one_column(tmp_path: Path) -> None:
    """Naive, Z, offset, date-only and padded cells in one column (in pyarrow's first block, where
    its inference used to refuse the mix), each read as --as-of reads it; null spellings are null."""
    cells = [
        "2026-09-25T08:00:00Z",
        "2026-09-25T08:00:00",
        "2026-09-25 10:00:00+02:00",
        " 2026-09-25T08:00:00.000000001Z",
        "2026-09-25",
        "",
        "NA",
    ]
    body = "".join(f"F{i},BTC,future,{c}\n" for i, c in enumerate(cells))
    table = read_table(write(tmp_path / "inst.csv", "instrument_id,underlying,kind,expiry\n" + body), "instruments")
    assert table.schema.field("expiry").type == pa.timestamp("ns", tz="UTC")
    at8 = 1_790_323_200_000_000_000
    midnight = at8 - 8 * 3600 * 1_000_000_000
    assert table.column("expiry").cast(pa.int64()).to_pylist() == [at8, at8, at8, at8 + 1, midnight, None, None]
    # Only nulls: a null column, as before.
    nulls = write(tmp_path / "spot.csv", "instrument_id,underlying,kind,expiry\nS,BTC,spot,\n")
    assert read_table(nulls, "instruments").schema.field("expiry").type == pa.null()


def csv_rows(n: int) -> list[str]:
    return ["account_id,instrument_id,quantity"] + [f"A{i},BTC-SPOT,1" for i in range(n)]


def test_csv_structure_errors_name_the_file_and_the_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = csv_rows(300_000)
    rows[150_001] = "A150000,BTC-SPOT"
    short = write(tmp_path / "short.csv", "\n".join(rows) + "\n")
    assert read_error(short, "positions") == (
        "positions",
        None,
        150_000,
        f"cannot read {short}: 2 cells where the header has 3: 'A150000,BTC-SPOT'",
    )
    assert main(["margin", "--positions", str(short), *market_args(tmp_path), "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"error: positions, row 150000: cannot read {short}: 2 cells where the header has 3: 'A150000,BTC-SPOT'\n"
    )
    long_row = write(tmp_path / "long.csv", "\n".join([*csv_rows(2), "A,B,1,2"]) + "\n")
    assert read_error(long_row, "positions")[2:] == (
        2,
        f"cannot read {long_row}: 4 cells where the header has 3: 'A,B,1,2'",
    )
    huge = write(tmp_path / "huge.csv", "\n".join([*csv_rows(2), "X" * 3_000_000 + ",BTC-SPOT,1"]) + "\n")
    assert read_error(huge, "positions") == (
        "positions",
        None,
        None,
        f"cannot read {huge}: a row is longer than pyarrow's 1 MiB CSV block, or a quote is never closed",
    )


@pytest.mark.parametrize(
    ("text", "looks"),
    [
        ("account_id;instrument_id;quantity\nA;BTC-SPOT;1\n", "semicolon"),
        ("account_id;instrument_id;quantity\nA;BTC-SPOT;1,5\n", "semicolon"),
        ("account_id\tinstrument_id\tquantity\nA\tBTC-SPOT\t1\n", "tab"),
    ],
)
def test_a_file_with_another_separator_says_so(tmp_path: Path, text: str, looks: str) -> None:
    path = write(tmp_path / "pos.csv", text)
    header = text.split("\n")[0]
    assert read_error(path, "positions") == (
        "positions",
        None,
        None,
        f"{path} looks {looks}-separated (its header is one column: {header!r}); pmargin reads "
        "comma-separated CSV: save it as CSV with commas",
    )


def test_excel_and_dos_artefacts(tmp_path: Path) -> None:
    """Excel's ``sep=,`` first line is skipped (with a BOM and CRLF too), a trailing DOS
    end-of-file byte dropped; another ``sep=`` line says what the file is."""
    plain = [
        {"account_id": "A", "instrument_id": "BTC-SPOT", "quantity": 1},
        {"account_id": "B", "instrument_id": "X", "quantity": 2},
    ]
    body = "account_id,instrument_id,quantity\nA,BTC-SPOT,1\nB,X,2\n"
    path = tmp_path / "pos.csv"
    for data in (
        b"sep=,\n" + body.encode(),
        b"\xef\xbb\xbfsep=,\r\n" + body.replace("\n", "\r\n").encode(),
        body.encode() + b"\x1a",
        body.encode().rstrip(b"\n") + b"\x1a",
    ):
        path.write_bytes(data)
        assert read_table(path, "positions").to_pylist() == plain, data
    path.write_bytes(b"sep=,\n" + csv_rows(3)[0].encode() + b"\nA,B,1\nC,D\n")
    assert read_error(path, "positions")[2:] == (1, f"cannot read {path}: 2 cells where the header has 3: 'C,D'")
    path.write_bytes(b"sep=;\naccount_id;instrument_id;quantity\nA;BTC-SPOT;1\n")
    assert read_error(path, "positions") == (
        "positions",
        None,
        None,
        f"{path} starts with Excel's 'sep=;' line: it looks semicolon-separated; pmargin reads comma-separated "
        "CSV: save it as CSV with commas (and no 'sep=' line)",
    )


def test_a_parquet_or_arrow_number_column_of_text_says_to_cast_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow.parquet as pq

    hint = "expected a number column, got text (string): the column holds text, cast it to a number type"
    for cells, detail in (
        (["1.5", "2"], "(every cell is a number written as text)"),
        (["1.5", "1,5"], "(its row 1 is not a number: '1,5')"),
    ):
        table = pa.table({"account_id": ["A", "B"], "instrument_id": ["BTC-SPOT"] * 2, "quantity": cells})
        parquet, arrow = tmp_path / "pos.parquet", tmp_path / "pos.arrow"
        pq.write_table(table, parquet)
        with pa.OSFile(str(arrow), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        for path in (parquet, arrow):
            assert read_error(path, "positions") == ("positions", "quantity", None, f"{hint} {detail}")
    # Through the command line (the market's tables are read by read_table).
    args = market_args(tmp_path)
    underlyings = tmp_path / "und.parquet"
    pq.write_table(pa.table({"underlying": ["BTC"], "spot": ["60000"]}), underlyings)
    args[args.index("--underlyings") + 1] = str(underlyings)
    positions = write(tmp_path / "pos.csv", "account_id,instrument_id,quantity\nA,BTC-SPOT,1\n")
    assert main(["margin", "--positions", str(positions), *args, "--quiet"]) == 2
    assert capsys.readouterr().err == f"error: underlyings.spot: {hint} (every cell is a number written as text)\n"
    crif = tmp_path / "crif.parquet"
    pq.write_table(pa.table({"Portfolio": ["P"], "AmountUSD": pa.array(["7"], pa.large_string())}), crif)
    assert read_error(crif, "crif")[3] == (
        "expected a number column, got text (large_string): the column holds text, cast it to a number type "
        "(every cell is a number written as text)"
    )


def test_a_parquet_file_with_a_repeated_column_name_is_named(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    path = tmp_path / "pos.parquet"
    table = pa.table([pa.array(["a"]), pa.array([1.0]), pa.array([2.0])], names=["account_id", "quantity", "quantity"])
    pq.write_table(table, path)
    with pytest.raises(MarginInputError) as err:
        read_table(path, "positions")
    assert (
        str(err.value)
        == f"positions.quantity: column 'quantity' appears 2 times in {path}: rename or drop the extra ones"
    )
