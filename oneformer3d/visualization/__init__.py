"""Pictures for people: feature maps as colours (PCA), point-feature embeddings, the online
instance map, predicted instances beside the ground truth."""
from .feature_vis import pca_rgb, save_feature_pca_png, save_point_feature_png
from .instance_vis import save_instances_topdown_png
from .stream_vis import instance_colours, save_animation, save_stream_png

__all__ = ['instance_colours', 'pca_rgb', 'save_animation', 'save_feature_pca_png', 'save_instances_topdown_png',
           'save_point_feature_png', 'save_stream_png']
