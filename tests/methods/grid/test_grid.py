"""The grid model's correlation options (``cross="correlation"``, ``correlation``,
``floor_largest``: each error naming ``model.<argument>``) and its dict round trip.
"""

from __future__ import annotations

from pmargin.models import GridModel
from tests.methods.models import CORR, config_error


def test_grid_correlation_options() -> None:
    model = GridModel(cross="correlation", correlation=CORR, floor_largest=True)
    assert model.correlation == CORR and model.floor_largest is True
    assert config_error(lambda: GridModel(cross="correlation")).column == "correlation"
    assert config_error(lambda: GridModel(correlation=CORR)).column == "correlation"
    assert config_error(lambda: GridModel(floor_largest=True)).column == "floor_largest"
    assert config_error(lambda: GridModel(cross="correlation", correlation=[[1.0]])).column == "correlation"
    err = config_error(lambda: GridModel(cross="max"))
    assert err.column == "cross" and "'correlation'" in err.reason


def test_grid_to_dict_round_trip() -> None:
    model = GridModel(price_shocks=[-0.1, 0.1], cross="correlation", correlation=CORR, floor_largest=True)
    data = model.to_dict()
    assert data["correlation"] == {"names": ["BTC", "ETH"], "matrix": [[1.0, 0.8], [0.8, 1.0]]}
    assert data["floor_largest"] is True
    assert GridModel.from_dict(data) == model
    assert "correlation" not in GridModel().to_dict()
    assert GridModel.from_dict(GridModel().to_dict()) == GridModel()
