"""pmargin.presets: venue presets by name, each recording its parameter set."""

from __future__ import annotations

import pmargin.presets
from pmargin.models import model_class, model_types
from pmargin.models.deribit import DEFAULT_MODEL_PARAMS, DeribitModel


def test_deribit_preset_is_the_registered_model() -> None:
    model = pmargin.presets.deribit()
    assert isinstance(model, DeribitModel)
    assert "deribit" in model_types() and model_class("deribit") is DeribitModel
    assert set(model.flat) == set(DEFAULT_MODEL_PARAMS) == {"BTC", "ETH"}
    assert model.flat["BTC"]["price_range"] == 0.16 and model.flat["ETH"]["price_range"] == 0.18
    assert model.to_spec()["parameter_set"] == model.parameter_set
    assert DeribitModel.from_dict(model.to_dict()).parameter_set == model.parameter_set
    assert "deribit" in pmargin.presets.__all__
