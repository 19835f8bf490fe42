"""placeholder

Mirrors: rust/pmargin-core/src/sensitivity/variance.rs
"""


def portfolio_variance() -> None:
    pass
