"""pmargin.params: parameter-set identity and its content hash."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from pmargin.errors import MarginConfigError
from pmargin.params import content_hash, identify


def test_hash_is_sha256_of_canonical_json() -> None:
    expected = hashlib.sha256(b'{"a":[1,2.5],"b":"x"}').hexdigest()
    assert content_hash({"b": "x", "a": [1, 2.5]}) == expected


def test_key_order_does_not_change_the_hash_but_a_value_does() -> None:
    one = {"range": 0.16, "steps": 16, "extended": {"dampener": 100000, "range": 0.5}}
    reordered = {"extended": {"range": 0.5, "dampener": 100000}, "steps": 16, "range": 0.16}
    changed = {"range": 0.16, "steps": 16, "extended": {"dampener": 100000, "range": 0.51}}
    assert content_hash(one) == content_hash(reordered)
    assert content_hash(one) != content_hash(changed)


def test_numpy_scalars_hash_like_python_numbers() -> None:
    assert content_hash({"r": np.float64(0.15), "n": np.int64(3)}) == content_hash({"r": 0.15, "n": 3})


def test_identity_string_names_set_version_and_short_hash() -> None:
    ident = identify("deribit", "2026-12-01", {"r": 0.15})
    assert str(ident) == f"deribit@2026-12-01#{content_hash({'r': 0.15})[:12]}"
    assert len(ident.sha256) == 64


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), object()])
def test_values_without_a_canonical_form_are_named(bad: object) -> None:
    with pytest.raises(MarginConfigError, match=r"params.*scan\.range"):
        content_hash({"scan": {"range": bad}})


def test_identity_needs_a_name_and_a_version() -> None:
    with pytest.raises(MarginConfigError, match="name"):
        identify("", "1", {})
    with pytest.raises(MarginConfigError, match="version"):
        identify("span", " ", {})
