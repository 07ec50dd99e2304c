"""The base of the settings objects (``DACSSettings``, ``LearnLossSettings``,
...): frozen dataclasses that validate themselves, change field by field, and
say what differs from their defaults."""

from __future__ import annotations

import dataclasses
from typing import TypeVar

S = TypeVar("S", bound="Settings")


class Settings:
    """Mixin of a frozen dataclass of settings."""

    @classmethod
    def of(cls: type[S], settings: S | None = None, **changes) -> S:
        """``settings`` (the defaults when None) with ``changes`` applied; an unknown
        name is a ``TypeError`` that lists the known ones."""
        if settings is not None and not isinstance(settings, cls):
            raise TypeError(f"settings must be a {cls.__name__}, got {type(settings).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"unknown {cls.__name__} field(s) {', '.join(unknown)}; the fields are {', '.join(sorted(known))}")
        return dataclasses.replace(settings if settings is not None else cls(), **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def changed(self, base: Settings | None = None) -> dict:
        """The fields that differ from ``base`` (the defaults when None)."""
        base = base if base is not None else type(self)()
        return {k: v for k, v in self.to_dict().items() if getattr(base, k) != v}

    def _store(self, **checked) -> None:
        """Replaces fields by their checked values (plain Python types), from __post_init__."""
        for name, value in checked.items():
            object.__setattr__(self, name, value)
