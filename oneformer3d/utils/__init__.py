from .compat import APPLIED as COMPAT_APPLIED
from .compat import allow_unsafe_checkpoint, apply_all, load_local_checkpoint

__all__ = ['COMPAT_APPLIED', 'allow_unsafe_checkpoint', 'apply_all', 'load_local_checkpoint']
