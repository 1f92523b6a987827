from .info_nce import ClipInfoNCE, MoCoQueue, PointPatchInfoNCE, normalized_mse

__all__ = ['ClipInfoNCE', 'MoCoQueue', 'PointPatchInfoNCE', 'normalized_mse']
