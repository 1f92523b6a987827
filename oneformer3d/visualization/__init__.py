"""Pictures for people: feature maps as colours (PCA) and point-feature embeddings."""
from .feature_vis import pca_rgb, save_feature_pca_png, save_point_feature_png

__all__ = ['pca_rgb', 'save_feature_pca_png', 'save_point_feature_png']
