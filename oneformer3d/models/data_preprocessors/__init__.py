from .det3d_data_preprocessor import Det3DDataPreprocessor, voxelize

__all__ = ['Det3DDataPreprocessor', 'voxelize']
