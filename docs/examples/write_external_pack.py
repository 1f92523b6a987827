"""Write a feature pack from any encoder, in its own environment (numpy, zarr 2 or 3, Pillow;
nothing of oneformer3d). Copy this file next to CroCo / VGGT / Depth-Anything-3 and replace
``encode`` with the model's forward; the pack then loads by its name (``encoders={NAME: C}``).

    python write_external_pack.py data/rlbench/rgb_dataset/RGB/open_drawer/episode0 \\
        data/rlbench/packs/NAME/open_drawer/episode0.zarr --name NAME [--zarr-format 2]

Schema (README, "Feature packs from other environments"): a zarr group with the array
``per_frame_features`` float16 (W, T, H_f, W_f, C) chunked (1, 1, H_f, W_f, C) — W windows of
T consecutive frames every ``stride_frames`` frames, the last window ending at the last frame —
and attributes ``frame_paths`` (W lists of T image paths whose stem ``step_XXXX`` pairs the
frames with the point files and the other packs) and ``meta`` (``encoder`` name,
``image_size`` [H, W] of the original image, ``feat_size`` [H_f, W_f], ``stride`` [s_x, s_y]
original-image pixels per feature cell, ``input_size`` [h, w] the network saw).
"""
import argparse
import glob
import os.path as osp

import numpy as np
import zarr
from PIL import Image


def encode(image: np.ndarray, cell: int) -> np.ndarray:
    """Stand-in encoder: (H, W, 3) uint8 -> (H/cell, W/cell, 6) float: each cell's mean and
    standard deviation of colour, 0..1. Replace with the real model."""
    h, w = image.shape[0] // cell, image.shape[1] // cell
    x = image[:h * cell, :w * cell].astype(np.float32).reshape(h, cell, w, cell, 3) / 255
    return np.concatenate([x.mean((1, 3)), x.std((1, 3))], axis=-1)


def windows(n: int, window: int, stride: int) -> list:
    starts = list(range(0, n - window + 1, stride))
    if starts[-1] != n - window:
        starts.append(n - window)
    return [list(range(s, s + window)) for s in starts]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('frames', help='folder of step_XXXX.png frames')
    p.add_argument('out', help='<packs>/<name>/<task>/<episode>.zarr')
    p.add_argument('--name', required=True)
    p.add_argument('--cell', type=int, default=8)
    p.add_argument('--window', type=int, default=8)
    p.add_argument('--stride-frames', type=int, default=4)
    p.add_argument('--zarr-format', type=int, default=None, help='2 or 3 (zarr 3 only)')
    args = p.parse_args(argv)
    paths = sorted(glob.glob(osp.join(args.frames, 'step_*.png')))
    images = [np.asarray(Image.open(f).convert('RGB')) for f in paths]
    feats = np.stack([encode(im, args.cell) for im in images])          # (N, Hf, Wf, C)
    wins = windows(len(paths), args.window, args.stride_frames)
    per_window = np.stack([feats[w] for w in wins]).astype(np.float16)  # (W, T, Hf, Wf, C)
    kwargs = {} if args.zarr_format is None else dict(zarr_format=args.zarr_format)
    group = zarr.open_group(args.out, mode='w', **kwargs)
    create = getattr(group, 'create_array', None) or group.create_dataset   # zarr 3 / 2
    arr = create('per_frame_features', shape=per_window.shape, dtype='float16',
                 chunks=(1, 1) + per_window.shape[2:])
    arr[...] = per_window
    h, w = images[0].shape[:2]
    hf, wf = feats.shape[1:3]
    group.attrs['frame_paths'] = [[paths[i] for i in win] for win in wins]
    group.attrs['meta'] = dict(encoder=args.name, image_size=[h, w], feat_size=[hf, wf],
                               stride=[w / wf, h / hf], input_size=[h, w],
                               window=args.window, stride_frames=args.stride_frames)
    print(f'{args.out}: {per_window.shape} float16')


if __name__ == '__main__':
    main()
