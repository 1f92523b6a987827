from .det3d_data_sample import Det3DDataSample, PointData

__all__ = ['Det3DDataSample', 'PointData']
