from .merge_head import MergeHead

__all__ = ['MergeHead']
