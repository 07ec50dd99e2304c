"""Pure-PyTorch reference of dacs_ext.

``dacs_ext.reference.ops`` holds a twin of every ``torch.ops.dacs`` op; the
functions here are the public API (``density``, ``min_distance``,
``kcenter_greedy``, ``natural_breaks``, ``density_groups``, ``select``,
``cdal_kcenter``) running on those
twins. Validation and pre-processing are the very code of the fast path, so the
two differ only in the kernels: this is the benchmarks' rival and the kernels'
oracle, not an oracle of the pipeline (the tests' independent one is
``tests/oracle.py``, which shares no code with the package).
"""

from __future__ import annotations

import functools

from .. import cdal, groups, kcenter, selection
from ..density import density as density_with_backend
from . import ops

density = functools.partial(density_with_backend, backend=ops)
min_distance = functools.partial(kcenter.min_distance, backend=ops)
kcenter_greedy = functools.partial(kcenter.kcenter_greedy, backend=ops)
natural_breaks = functools.partial(groups.natural_breaks, backend=ops)
density_groups = functools.partial(groups.density_groups, backend=ops)
select = functools.partial(selection.select, backend=ops)
cdal_kcenter = functools.partial(cdal.cdal_kcenter, backend=ops)

__all__ = ["ops", "density", "min_distance", "kcenter_greedy", "natural_breaks", "density_groups", "select", "cdal_kcenter"]
