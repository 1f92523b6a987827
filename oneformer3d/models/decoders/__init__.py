from .mix_query_decoder import MixQueryDecoder, point_to_superpoint_blocked
from .query_decoder import QueryDecoder

__all__ = ['MixQueryDecoder', 'QueryDecoder', 'point_to_superpoint_blocked']
