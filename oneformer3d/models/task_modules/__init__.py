from .hungarian_matcher import HungarianMatcher
from .match_costs import MaskBCECost, MaskDiceCost, QueryClassificationCost

__all__ = ['HungarianMatcher', 'MaskBCECost', 'MaskDiceCost', 'QueryClassificationCost']
