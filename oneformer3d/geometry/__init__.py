"""Camera geometry: the single source of camera conventions (see :mod:`.camera`) and of
point -> pixel -> feature sampling (:mod:`.projection`)."""
from .camera import (as_intrinsic3x3, backproject_depth, check_pose, project_points,
                     render_depth, render_points, scale_intrinsic, sunrgbd_pose,
                     transform_points)
from .projection import build_uv_index, feature_stride, sample_img_feat, undo_augmentation

__all__ = ['as_intrinsic3x3', 'backproject_depth', 'build_uv_index', 'check_pose',
           'feature_stride', 'project_points', 'render_depth', 'render_points',
           'sample_img_feat', 'scale_intrinsic', 'sunrgbd_pose', 'transform_points',
           'undo_augmentation']
