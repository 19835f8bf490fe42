"""Shared by the command-line tests: a sample book and its four input tables written as Parquet
(test modules that define their own ``book`` and ``parquet_args`` use those).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import pmargin
from pmargin import sample
from pmargin.io import write_table

INPUTS = ("positions", "instruments", "underlyings", "vols")

AS_OF = "2026-06-30T08:00:00Z"


@pytest.fixture(scope="module")
def book() -> sample.SampleBook:
    return sample.book(150, seed=11)


@pytest.fixture(scope="module")
def book_greeks(book: sample.SampleBook) -> pmargin.GreeksResult:
    return pmargin.greeks(book.positions, book.instruments, book.market)


def write_inputs(book: sample.SampleBook, folder: Path, suffix: str) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    args: list[str] = []
    for name in INPUTS:
        path = folder / f"{name}{suffix}"
        write_table(getattr(book, name), path)
        args += [f"--{name}", str(path)]
    return [*args, "--as-of", AS_OF]


@pytest.fixture(scope="module")
def parquet_args(book: sample.SampleBook, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return write_inputs(book, tmp_path_factory.mktemp("inputs"), ".parquet")
