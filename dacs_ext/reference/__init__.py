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

from ..cdal import cdal_kcenter as _cdal_kcenter
from ..density import density as _density
from ..groups import density_groups as _density_groups
from ..groups import natural_breaks as _natural_breaks
from ..kcenter import kcenter_greedy as _kcenter_greedy
from ..kcenter import min_distance as _min_distance
from ..selection import select as _select
from . import ops

density = functools.partial(_density, backend=ops)
min_distance = functools.partial(_min_distance, backend=ops)
kcenter_greedy = functools.partial(_kcenter_greedy, backend=ops)
natural_breaks = functools.partial(_natural_breaks, backend=ops)
density_groups = functools.partial(_density_groups, backend=ops)
select = functools.partial(_select, backend=ops)
cdal_kcenter = functools.partial(_cdal_kcenter, backend=ops)

__all__ = ["ops", "density", "min_distance", "kcenter_greedy", "natural_breaks", "density_groups", "select", "cdal_kcenter"]
