from .matrix_nms import matrix_nms
from .superpoint_pooling import superpoint_pool

__all__ = ['matrix_nms', 'superpoint_pool']
