"""Settings objects: the base of every one (``DACSSettings`` here,
``LearnLossSettings``, ...), frozen dataclasses that validate themselves, change
field by field and say what differs from their defaults; and ``DACSSettings``
with its named configurations."""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from . import checks

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


@dataclasses.dataclass(frozen=True)
class DACSSettings(Settings):
    """Every setting of DACS, in one place: ``select``, ``DACS``,
    ``dacs_ext.al.DACSStrategy``, the experiment presets and the command line take
    their defaults from here. The defaults are the paper's where it states them.

    Attributes:
        buckets: LSH buckets, also the number of chunks (Eq. 6-7); even, >= 2, at
            most the pool size. 100.
        groups: density groups h (Eq. 9), >= 2. 4.
        temperature: tau of Eq. 10, > 0; lower gives the sparse groups more. 0.25.
        rounds: independent LSH rounds whose densities are averaged, >= 1. The paper
            uses 1.
        neighbours: the chunks a chunk reads besides its own: ``"back"`` (Eq. 7),
            ``"both"`` or ``"none"``.
        levels: hash levels of the density, 1 (the paper's flat hash) or 2
            (hierarchical, ``dacs_ext.density``'s ``levels``: for pools of millions,
            where the flat hash's cost grows as N * buckets).
        share_centers: let each group's k-center see the earlier groups' picks (not
            in the paper, which lets a group see only the labeled rows and its own).
        expand: eta of section 4.3, >= 1: combined with an uncertainty method, DACS
            proposes ``round(eta * budget)`` candidates and the uncertainty keeps the
            budget. The paper does not state it: 2.
    """

    buckets: int = 100
    groups: int = 4
    temperature: float = 0.25
    rounds: int = 1
    neighbours: str = "back"
    share_centers: bool = False
    expand: float = 2.0
    levels: int = 1

    def __post_init__(self) -> None:
        self._store(
            buckets=checks.even_buckets(self.buckets),
            groups=checks.integer(self.groups, "groups", low=2),
            temperature=checks.positive(self.temperature, "temperature"),
            rounds=checks.integer(self.rounds, "rounds", low=1),
            neighbours=checks.choice(self.neighbours, "neighbours", checks.NEIGHBOURS),
            share_centers=checks.boolean(self.share_centers, "share_centers"),
            expand=checks.at_least(self.expand, "expand", 1.0),
            levels=checks.integer(self.levels, "levels", low=1, high=2),
        )

    @classmethod
    def named(cls, name: str) -> DACSSettings:
        """A named configuration: ``"paper"`` (the defaults, Algorithm 1 as
        written) or ``"recommended"`` (``NAMED_SETTINGS`` says what it changes;
        the README's ablation gives the evidence)."""
        return cls(**NAMED_SETTINGS[checks.choice(name, "settings name", tuple(NAMED_SETTINGS))])

    @classmethod
    def of(cls, settings: DACSSettings | str | None = None, **changes) -> DACSSettings:
        """As ``Settings.of``; ``settings`` may also be a name for ``named``."""
        return super().of(cls.named(settings) if isinstance(settings, str) else settings, **changes)


NAMED_SETTINGS: dict[str, dict] = {
    "paper": {},
    # Measured on Repeated Fashion-MNIST (README, "the DACS ablation"): labels spent
    # on copies of one image fall from 526 to 37 of 4,500 and the final accuracy
    # rises 0.7 points; each group's k-center sees the earlier groups' picks, and
    # the density averages 4 hash rounds instead of one noisy one.
    "recommended": {"share_centers": True, "rounds": 4},
}
