"""Simulation source of the robot stack: Meta-World (MuJoCo) tasks rendered as RGB-D cameras,
written in the RLBench episode layout so that packing and stages 1-3 run on them unchanged,
and rolled out in closed loop (``tools/robot/collect_sim_demos.py``,
``tools/robot/eval_closed_loop.py``, ``tools/robot/sim_benchmark.py``; docs/robot_sim.md).

Not imported by :mod:`oneformer3d.robot`: importing MuJoCo fixes its OpenGL backend for the
process, so importing this package first runs :func:`~.gl_backend.select_gl_backend`.
"""
from .gl_backend import select_gl_backend

select_gl_backend()      # before anything imports mujoco (RuntimeError naming MUJOCO_GL if none)

from .mujoco_camera import MujocoCameras, camera_intrinsic, camera_pose

__all__ = ['select_gl_backend', 'MujocoCameras', 'camera_intrinsic', 'camera_pose']
