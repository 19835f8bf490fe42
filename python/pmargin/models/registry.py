"""The model registry: every model class by its ``type`` name, so TOML files, ``load_model`` and
the CLI find a class without knowing the list. A model module registers its class with
:func:`register`; the native engine needs no registration (it takes ``model.to_spec()``)."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from ..errors import MarginConfigError


class Model(Protocol):
    """What every model provides: its ``type`` name and its spec for the native engine."""

    @property
    def type(self) -> str: ...

    @property
    def mm_ratio(self) -> float: ...

    def to_spec(self) -> dict[str, Any]:
        """The model as data: ``{"type": name, ...}``, with tables as Arrow tables."""
        ...


_ModelClass = TypeVar("_ModelClass", bound=type)

_REGISTRY: dict[str, type] = {}


def register(cls: _ModelClass) -> _ModelClass:
    """Class decorator: make ``cls`` findable by its ``type`` default."""
    name = cls.type  # type: ignore[attr-defined]
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise RuntimeError(f"two model classes claim type {name!r}")
    _REGISTRY[name] = cls
    return cls


def model_types() -> tuple[str, ...]:
    """Every registered ``type`` name, in registration order."""
    return tuple(_REGISTRY)


def model_class(name: Any) -> type:
    """The class registered as ``name``, or a config error listing the known types."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise MarginConfigError(
            f"unknown model type {name!r}; expected one of {', '.join(_REGISTRY)}", table="model", column="type"
        ) from None
