from .multilevel_memory import MultilevelMemory, voxel_keys

__all__ = ['MultilevelMemory', 'voxel_keys']
