"""Pictures of the growing online instance map (``tools/stream_demo.py``)."""
import os
import os.path as osp

import numpy as np

from oneformer3d.geometry import build_uv_index
from ..models.online.instance_merger import voxel_centres


def instance_colours(n: int, seed: int = 0) -> np.ndarray:
    """(n, 3) distinct-ish colours in 0..1, stable across calls."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.15, 1.0, size=(max(n, 1), 3))


def save_stream_png(path: str, merger, image: np.ndarray, intrinsic, pose,
                    background_xyz: np.ndarray, title: str = '') -> str:
    """Top-down view (accumulated points grey, scene instances' voxel centres coloured by
    instance) beside the current camera image with the instances projected onto it."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    colours = instance_colours(len(merger) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    ax = axes[0]
    if len(background_xyz):
        ax.scatter(background_xyz[:, 0], background_xyz[:, 1], s=0.2, c='0.8')
    h, w = image.shape[:2]
    ax_img = axes[1]
    ax_img.imshow(image)
    for i, keys in enumerate(merger.keys):
        c = voxel_centres(keys, merger.voxel_size)
        ax.scatter(c[:, 0], c[:, 1], s=1.5, color=colours[i])
        uv, ok = build_uv_index(c, intrinsic, pose, (h, w))
        if ok.any():
            ax_img.scatter(uv[ok, 0], uv[ok, 1], s=1, color=colours[i], alpha=0.6)
    ax.set_aspect('equal')
    ax.set_title(f'top-down: {len(merger)} scene instances')
    ax_img.set_xlim(0, w)
    ax_img.set_ylim(h, 0)
    ax_img.axis('off')
    ax_img.set_title('current camera view')
    fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    fig.savefig(path, dpi=70)
    plt.close(fig)
    return path


__all__ = ['instance_colours', 'save_stream_png']
