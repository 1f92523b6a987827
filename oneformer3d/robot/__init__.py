"""The robot-manipulation stack: RGB <-> point-cloud alignment (stage 1, route 2), one action
head on several inputs (stage 2) and a deployable student (stage 3); docs/robot.md.

Registered in the project's registries; importing this package registers its modules. The
robot configs do it through mmengine's ``custom_imports`` (``configs/_base_/datasets/
rlbench_*.py``). It uses the 3D package's registry, geometry and 2D image encoders; nothing of
the 3D package imports it.
"""
from . import datasets, evaluation, models  # noqa: F401  (registers the modules)
