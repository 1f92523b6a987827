"""oneformer3d: 3D indoor scene understanding with 2D foundation-model features, on mmengine.

Importing the package applies the stack's compatibility fixes once
(:mod:`oneformer3d.utils.compat`).
"""
from .utils.compat import apply_all as _apply_compat

_apply_compat()

__version__ = '0.1.0'
