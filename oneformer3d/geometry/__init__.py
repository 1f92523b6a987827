"""Camera geometry: the single source of camera conventions (see :mod:`.camera`)."""
from .camera import (as_intrinsic3x3, backproject_depth, check_pose, project_points,
                     render_depth, render_points, scale_intrinsic, transform_points)

__all__ = ['as_intrinsic3x3', 'backproject_depth', 'check_pose', 'project_points',
           'render_depth', 'render_points', 'scale_intrinsic', 'transform_points']
