"""Stage 2 of the alignment study: one action head on several input routes."""
from .action_head import ActionHead
from .action_policy import ActionPolicy
from .token_encoders import PackTokenEncoder, PointTokenEncoder

__all__ = ['ActionHead', 'ActionPolicy', 'PackTokenEncoder', 'PointTokenEncoder']
