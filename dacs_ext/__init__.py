"""dacs_ext: density-aware core-set (DACS) active learning, fast.

The kernels are PyTorch ops in ``torch.ops.dacs`` (CPU, and CUDA when built with
it); ``dacs_ext.reference`` is their pure-PyTorch twin.
"""

from . import ops
from .density import density, knn_density, knn_indices, random_rotation
from .groups import density_groups, natural_breaks, split_budget
from .kcenter import kcenter_greedy, min_distance
from .cdal import cdal_kcenter, symmetric_kl
from .selection import DACS, expand_and_squeeze, select
from .settings import DACSSettings
from .session import LabelingSession, SessionError
from . import nn
from . import reference

__all__ = [
    "ops",
    "reference",
    "density",
    "random_rotation",
    "knn_density",
    "knn_indices",
    "min_distance",
    "kcenter_greedy",
    "cdal_kcenter",
    "symmetric_kl",
    "natural_breaks",
    "density_groups",
    "split_budget",
    "select",
    "expand_and_squeeze",
    "DACS",
    "DACSSettings",
    "LabelingSession",
    "SessionError",
    "nn",
]
__version__ = "0.1.0"
