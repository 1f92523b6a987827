from .esam_merger import ESAMOnlineMerger
from .instance_merger import OnlineInstanceMerger

__all__ = ['ESAMOnlineMerger', 'OnlineInstanceMerger']
