from .farthest_point_sampling import farthest_point_sampling
from .geo_aware_pooling import GeoAwarePooling
from .matrix_nms import matrix_nms
from .point_img_features import sample_points_img_feat
from .pool_rows import pool_rows
from .superpoint_pooling import SuperpointMeanPool, superpoint_pool
from .voxel_ball_query import ball_offsets, group_by_neighbor_count, voxel_ball_query

__all__ = ['GeoAwarePooling', 'SuperpointMeanPool', 'ball_offsets', 'farthest_point_sampling',
           'group_by_neighbor_count', 'matrix_nms', 'sample_points_img_feat', 'pool_rows',
           'superpoint_pool', 'voxel_ball_query']
