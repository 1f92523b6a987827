"""Pictures of the growing online instance map (``tools/stream_demo.py``)."""
import os
import os.path as osp

from typing import List, Optional

import numpy as np

from oneformer3d.geometry import build_uv_index
from ..models.online.instance_merger import voxel_centres


def instance_colours(n: int, seed: int = 0) -> np.ndarray:
    """(n, 3) distinct-ish colours in 0..1, stable across calls."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.15, 1.0, size=(max(n, 1), 3))


def save_stream_png(path: str, merger, image: np.ndarray, intrinsic, pose,
                    background_xyz: np.ndarray, title: str = '',
                    frame_xyz: Optional[np.ndarray] = None,
                    frame_masks: Optional[np.ndarray] = None) -> str:
    """One picture of a streamed frame, three panels: the camera image; the current frame's
    predicted instances (``frame_masks`` (K, N) bool over ``frame_xyz`` (N, 3) world points)
    projected onto it; the merged scene top-down (``background_xyz`` (M, 3) accumulated
    points grey, each scene instance of ``merger`` coloured, its voxel centres).

    Args:
        image: (H, W, 3) uint8 colour image of the frame.
        intrinsic: (3, 3) colour intrinsic (pixels); pose: (4, 4) camera-to-world of the
            frame, in the frame of the points (metres).

    Returns:
        ``path`` (written as PNG; parent folders created).
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    h, w = image.shape[:2]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), gridspec_kw=dict(
        width_ratios=[1, 1, 0.9]))
    axes[0].imshow(image)
    axes[0].set_title('frame')
    axes[1].imshow(image)
    num = 0 if frame_masks is None else len(frame_masks)
    cur = instance_colours(num, seed=1)
    for i in range(num):
        uv, ok = build_uv_index(frame_xyz[frame_masks[i]], intrinsic, pose, (h, w))
        if ok.any():
            axes[1].scatter(uv[ok, 0], uv[ok, 1], s=4, color=cur[i], alpha=0.6, linewidths=0)
    axes[1].set_title(f'current predictions: {num} instances')
    for ax in axes[:2]:
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.axis('off')
    ax = axes[2]
    if len(background_xyz):
        ax.scatter(background_xyz[:, 0], background_xyz[:, 1], s=0.2, c='0.8')
    colours = instance_colours(len(merger) + 1)
    for i, keys in enumerate(merger.keys):
        c = voxel_centres(keys, merger.voxel_size)
        ax.scatter(c[:, 0], c[:, 1], s=1.5, color=colours[i])
    cam = np.asarray(pose)[:3, 3]
    ax.plot(cam[0], cam[1], 'k^', ms=7)
    ax.set_aspect('equal')
    ax.set_title(f'merged scene (top-down): {len(merger)} instances')
    fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    fig.savefig(path, dpi=60)
    plt.close(fig)
    return path


def save_animation(png_paths: List[str], path: str, frame_ms: int = 400,
                   width: int = 960) -> str:
    """The PNGs as one animation: a GIF by Pillow (``.gif``), or an MP4 by ``imageio``
    (``.mp4``; needs ``imageio`` with its ffmpeg plugin, not a requirement of this package).

    Raises:
        ValueError: no PNG, or another suffix. ImportError: ``.mp4`` without ``imageio``.
    """
    from PIL import Image
    if not png_paths:
        raise ValueError(f'{path}: no picture to animate')
    frames = []
    for p in png_paths:
        im = Image.open(p).convert('RGB')
        if im.width > width:
            im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
        frames.append(im)
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    if path.endswith('.gif'):
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=frame_ms,
                       loop=0, optimize=True)
    elif path.endswith('.mp4'):
        import imageio.v2 as imageio
        size = frames[0].size
        imageio.mimsave(path, [np.asarray(f.resize(size)) for f in frames],
                        fps=1000 / frame_ms)
    else:
        raise ValueError(f'{path}: write .gif or .mp4')
    return path


__all__ = ['instance_colours', 'save_animation', 'save_stream_png']
