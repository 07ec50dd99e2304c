"""The methods the command line and the tables know: a name, a strategy class,
the settings the method fixes, and its title; and the settings objects a
strategy may take, by name (also the prefix of their command-line options)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import checks
from ..settings import NAMED_SETTINGS, DACSSettings, Settings
from .learnloss import LearnLoss, LearnLossDACS, LearnLossSettings
from .nce import NCENet, NCENetDACS, NCESettings
from .strategies import CDAL, CoreSet, DACSStrategy, DensestKCenter, DensityGroupKCenter, Random, Strategy
from .uncertainty import (
    BALD, BALDDACS, BALDSettings, Entropy, EntropyDACS, LeastConfidence, LeastConfidenceDACS, Margin, MarginDACS,
)

SETTINGS: dict[str, type[Settings]] = {"dacs": DACSSettings, "learnloss": LearnLossSettings, "nce": NCESettings, "bald": BALDSettings}


@dataclass(frozen=True)
class Method:
    """A method: ``strategy`` built with the run's settings objects, ``fixed``
    field changes on top (by settings name), and ``title`` in tables and plots."""

    strategy: type[Strategy]
    title: str
    fixed: dict[str, dict] = field(default_factory=dict)

    def make(self, settings: dict[str, Settings] | None = None) -> Strategy:
        settings = settings or {}
        return self.strategy(**{name: SETTINGS[name].of(settings.get(name), **self.fixed.get(name, {})) for name in self.strategy.settings_names})

    def label(self, settings: dict[str, dict]) -> str:
        """The title, followed by the settings (given as ``{name: to_dict()}``)
        that differ from the method's own defaults; with several settings objects
        each field is prefixed by its object's name."""
        changed = []
        for name in self.strategy.settings_names:
            if name not in settings:
                continue
            fixed = self.fixed.get(name, {})
            base = SETTINGS[name].of(None, **fixed)
            for key, value in SETTINGS[name](**settings[name]).changed(base).items():
                if key not in fixed:
                    prefix = f"{name}." if len(self.strategy.settings_names) > 1 else ""
                    changed.append(f"{prefix}{key}={value}")
        return self.title + (f" ({', '.join(changed)})" if changed else "")


STRATEGIES: dict[str, Method] = {
    "random": Method(Random, "Random"),
    "coreset": Method(CoreSet, "Core-set"),
    "learnloss": Method(LearnLoss, "LearnLoss"),
    "nce": Method(NCENet, "NCE-Net"),
    "cdal": Method(CDAL, "CDAL"),
    "dacs": Method(DACSStrategy, "DACS"),
    # Algorithm 1 lets each density group's k-center see only the labeled rows
    # and its own picks; with shared centers a group also sees the earlier
    # groups' picks, so two near-copies that the noisy density put in different
    # groups are not both picked in one cycle.
    "dacs-shared": Method(DACSStrategy, "DACS, shared centers", {"dacs": {"share_centers": True}}),
    "dacs-recommended": Method(DACSStrategy, "DACS, recommended", {"dacs": NAMED_SETTINGS["recommended"]}),
    # The paper's section 6.2 (Figure 4): k-center inside one of 3 density groups.
    "kcenter-densest": Method(DensestKCenter, "k-center, densest group"),
    "kcenter-sparsest": Method(DensityGroupKCenter, "k-center, sparsest group"),
    "learnloss-dacs": Method(LearnLossDACS, "LearnLoss + DACS"),
    "nce-dacs": Method(NCENetDACS, "NCE-Net + DACS"),
    "entropy": Method(Entropy, "Entropy"),
    "margin": Method(Margin, "Margin"),
    "least-confidence": Method(LeastConfidence, "Least confidence"),
    "bald": Method(BALD, "BALD"),
    "entropy-dacs": Method(EntropyDACS, "Entropy + DACS"),
    "margin-dacs": Method(MarginDACS, "Margin + DACS"),
    "least-confidence-dacs": Method(LeastConfidenceDACS, "Least confidence + DACS"),
    "bald-dacs": Method(BALDDACS, "BALD + DACS"),
}


def make_strategy(name: str, settings: dict[str, Settings] | None = None, **changes) -> Strategy:
    """A strategy by its command-line name (``STRATEGIES``' keys), with the
    run's settings objects by ``SETTINGS`` name (the defaults for those not
    given; a strategy takes the ones it names in ``settings_names``). Keyword
    ``changes`` change fields of a strategy's only settings object, e.g.
    ``make_strategy("dacs", buckets=20)``. The strategy's ``name`` is ``name``."""
    checks.choice(name, "method", tuple(STRATEGIES))
    method = STRATEGIES[name]
    if changes:
        names = method.strategy.settings_names
        if len(names) != 1:
            raise TypeError(f"method {name!r} takes settings objects {names}, not single fields {sorted(changes)}")
        settings = dict(settings or {})
        settings[names[0]] = SETTINGS[names[0]].of(settings.get(names[0]), **changes)
    strategy = method.make(settings)
    strategy.name = name  # one class may serve several methods (dacs, dacs-shared)
    return strategy
