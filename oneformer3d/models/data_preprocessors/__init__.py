from .det3d_data_preprocessor import Det3DDataPreprocessor, collate_voxels, voxelize

__all__ = ['Det3DDataPreprocessor', 'collate_voxels', 'voxelize']
