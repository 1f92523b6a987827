"""2D-feature costs, measured side by side in one run.

    python benchmarks/bench_2d_features.py [--repeats 5] [--skip-large]

1. Projection (``build_uv_index``) + bilinear sampling (``sample_img_feat``) of a 192-channel
   (CLIP ViT-B/16 after PixelShuffle(2), 60x80) and a 768-channel (30x40) map for 20k and 100k
   points of a real 7-Scenes depth frame, vs a plain gather of the same bytes
   (``map.view(C, -1)[:, idx]`` with precomputed indices). Goal: ratio <= 2.
2. Loading a stored frame (``load_feature_file``, fp16) vs running the encoder on the frame
   (random-init weights, same compute as pretrained). Goal: stored >= 5x faster.
3. Bytes per stored frame per encoder for a 640x480 image (fp16).

Last line: ``sample_vs_gather_max=<x> load_vs_encode_min=<y>``.
"""
import argparse
import os
import os.path as osp
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

import oneformer3d  # noqa: F401
from oneformer3d.datasets.preprocessing.feature_io import load_feature_file, save_feature_file
from oneformer3d.geometry import backproject_depth, build_uv_index, sample_img_feat
from oneformer3d.models.img_encoders import DINOv2, OpenClipResNet, OpenClipViT

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = os.environ.get('ONEFORMER3D_DATA', osp.join(REPO, '..', 'shared', 'data'))


def best_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def frame(i):
    root = osp.join(DATA, 'sevenscenes', 'redkitchen')
    if not osp.isdir(root):
        raise SystemExit(f'{root}: shared data not found (set ONEFORMER3D_DATA)')
    depth = np.asarray(Image.open(osp.join(root, f'frame-{i:06d}.depth.png')), np.float32)
    depth[depth >= 65535] = 0
    img = np.asarray(Image.open(osp.join(root, f'frame-{i:06d}.color.jpg')).convert('RGB'))
    return (depth / 1000, np.loadtxt(osp.join(root, f'frame-{i:06d}.pose.txt')),
            np.loadtxt(osp.join(root, 'camera-intrinsics.txt')), img)


def bench_sampling(repeats):
    depth, pose, k, _ = frame(0)
    pts, _ = backproject_depth(depth, k, pose)
    rng = np.random.default_rng(0)
    ratios = []
    print('| points | map | project+sample ms | gather ms | ratio |')
    print('|---|---|---|---|---|')
    for n in (20_000, 100_000):
        sel = torch.from_numpy(pts[rng.choice(len(pts), n, replace=n > len(pts))])
        for c, (hf, wf) in ((192, (60, 80)), (768, (30, 40))):
            fmap = torch.randn(c, hf, wf)
            idx = torch.from_numpy(rng.integers(0, hf * wf, n))

            def ours():
                uv, ok = build_uv_index(sel, k, pose, (480, 640))
                return sample_img_feat(fmap, uv, (480, 640), valid=ok)

            def gather():
                return fmap.view(c, -1)[:, idx].T.contiguous()
            t_ours, t_gather = best_time(ours, repeats), best_time(gather, repeats)
            ratios.append(t_ours / t_gather)
            print(f'| {n:,} | {c}x{hf}x{wf} | {t_ours * 1e3:.2f} | {t_gather * 1e3:.2f} | '
                  f'{t_ours / t_gather:.2f} |')
    return max(ratios)


def bench_encoders(repeats, skip_large):
    _, _, _, img = frame(0)
    image = torch.from_numpy(img.transpose(2, 0, 1).copy())[None]
    encoders = [('OpenClipViT ViT-B-16 final', lambda: OpenClipViT('ViT-B-16')),
                ('OpenClipViT ViT-B-16 conv1', lambda: OpenClipViT('ViT-B-16', layer='conv1')),
                ('OpenClipResNet RN50 layer3', lambda: OpenClipResNet('RN50')),
                ('DINOv2 ViT-B/14', lambda: DINOv2('vit_base_patch14_dinov2'))]
    if not skip_large:
        encoders.append(('DINOv2 ViT-L/14', lambda: DINOv2('vit_large_patch14_dinov2')))
    speedups = []
    print('\n| encoder | stored map | bytes/frame | encode ms | load ms | load speed-up |')
    print('|---|---|---|---|---|---|')
    with tempfile.TemporaryDirectory() as tmp:
        for name, build in encoders:
            enc = build()
            t_enc = best_time(lambda: enc(image), max(1, repeats // 2))
            out = enc(image)
            path = osp.join(tmp, 'f.pt')
            size = save_feature_file(path, out['pix'][0], out['global'][0],
                                     enc.meta(img.shape[:2], out['pix'].shape[-2:]))
            t_load = best_time(lambda: load_feature_file(path), repeats)
            speedups.append(t_enc / t_load)
            shape = 'x'.join(map(str, out['pix'].shape[1:]))
            print(f'| {name} | {shape} | {size / 1e6:.2f} MB | {t_enc * 1e3:.0f} | '
                  f'{t_load * 1e3:.2f} | {t_enc / t_load:.0f}x |')
    return min(speedups)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--skip-large', action='store_true', help='skip DINOv2 ViT-L/14')
    args = p.parse_args(argv)
    torch.manual_seed(0)
    print(f'torch threads: {torch.get_num_threads()}')
    ratio = bench_sampling(args.repeats)
    speedup = bench_encoders(args.repeats, args.skip_large)
    print(f'sample_vs_gather_max={ratio:.2f} load_vs_encode_min={speedup:.1f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
