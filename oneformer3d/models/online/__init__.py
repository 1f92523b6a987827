from .instance_merger import OnlineInstanceMerger

__all__ = ['OnlineInstanceMerger']
