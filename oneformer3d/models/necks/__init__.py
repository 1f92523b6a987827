"""Necks: modules between the (fusion) encoder's stride-1 output and superpoint pooling."""
from .tiny_sa import TinySAModule

__all__ = ['TinySAModule']
