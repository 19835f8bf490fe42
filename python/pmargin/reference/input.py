"""The reference's input stage: the plain-Python column readers of :mod:`pmargin.columns`
(shared with the models, which read the tables inside a model with them), re-exported under
the name of the core stage they mirror.

Mirrors: rust/pmargin-core/src/input/
"""

from ..columns import (
    MAX_TIME_NS,
    MIN_TIME_NS,
    NS_PER_DAY,
    NS_PER_UNIT,
    TIME_RANGE,
    check_allowed,
    check_spelling,
    check_unique,
    describe_type,
    fail,
    find_column,
    is_number_type,
    is_string_type,
    needed_at,
    optional_number_column,
    optional_numbers,
    optional_string_column,
    read_epoch_ns,
    read_ids,
    read_numbers,
    read_strings,
    required_column,
    required_numbers,
    required_strings,
    text_values,
)

__all__ = [
    "MAX_TIME_NS",
    "MIN_TIME_NS",
    "NS_PER_DAY",
    "NS_PER_UNIT",
    "TIME_RANGE",
    "check_allowed",
    "check_spelling",
    "check_unique",
    "describe_type",
    "fail",
    "find_column",
    "is_number_type",
    "is_string_type",
    "needed_at",
    "optional_number_column",
    "optional_numbers",
    "optional_string_column",
    "read_epoch_ns",
    "read_ids",
    "read_numbers",
    "read_strings",
    "required_column",
    "required_numbers",
    "required_strings",
    "text_values",
]
