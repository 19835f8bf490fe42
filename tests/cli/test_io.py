"""CSV inputs of the command line (:func:`pmargin.io.read_table`): ids and other text columns are
read as strings exactly as written, never guessed as numbers (``00123`` and ``123`` are two
accounts, ``0x1F`` stays ``0x1F``), while number and time columns keep their types."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from pmargin.cli import main
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
