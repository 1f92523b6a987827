from .hungarian_matcher import HungarianMatcher
from .match_costs import MaskBCECost, MaskDiceCost, QueryClassificationCost
from .sparse_matcher import SparseMatcher

__all__ = ['HungarianMatcher', 'MaskBCECost', 'MaskDiceCost', 'QueryClassificationCost',
           'SparseMatcher']
