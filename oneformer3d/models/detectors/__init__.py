from .oneformer3d import OneFormer3D

__all__ = ['OneFormer3D']
