from .farthest_point_sampling import farthest_point_sampling
from .matrix_nms import matrix_nms
from .superpoint_pooling import superpoint_pool

__all__ = ['farthest_point_sampling', 'matrix_nms', 'superpoint_pool']
