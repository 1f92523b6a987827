"""Forward check of a fusion model without training.

    python tools/check_fusion_forward.py CONFIG [--checkpoint CKPT] [--num-samples 10]
        [--split val|train] [--cfg-options k=v ...]

Runs the model of CONFIG (eval mode, weights of ``--checkpoint`` when given, loaded with the
project's load report) on the first ``--num-samples`` samples of the split and prints, per
sample and summarised:

* projection: share of points in front of the camera and inside the image (``in_image``),
  share of those that also pass the depth test against the frame's depth map (``depth_ok``;
  ``-`` without one), and the model's own valid-projection ratio;
* the pyramid of a ``DINOFPNInjector`` (voxels and ``tensor_stride`` per level) and the channel
  widths before / after each projection (2D map -> conv_reduce -> fused; DINO map -> each
  decoder stage);
* NaN / Inf in any module's output (the first module named), fusion gate statistics (2D
  share), forward time and peak memory.

Exit status 1 when an intermediate is NaN/Inf or a pyramid level is not on the decoder
tensor's coordinate map (stride/coordinate mismatch), else 0.
"""
import argparse
import os.path as osp
import resource
import sys
import time

import numpy as np
import torch
from PIL import Image

import oneformer3d  # noqa: F401
from mmengine.config import DictAction
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from oneformer3d.geometry import build_uv_index
from oneformer3d.registry import DATASETS, MODELS
from oneformer3d.utils.config import load_config


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('--checkpoint', help='the trained model to check (strict: every key must '
                                        'fit; none: random initialisation, said so)')
    p.add_argument('--allow-partial-load', action='store_true',
                   help='check a checkpoint that fits only partly (the load report is '
                        'printed; the missing weights stay random)')
    p.add_argument('--num-samples', type=int, default=10)
    p.add_argument('--split', choices=['val', 'train'], default='val')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)
    if args.num_samples < 1:
        p.error(f'--num-samples {args.num_samples}: at least one sample (0 checks nothing)')
    return args


def non_finite_watch(model):
    """Forward hooks recording the first module whose output holds NaN/Inf."""
    found = []

    def tensors(x):
        if isinstance(x, torch.Tensor):
            yield x
        elif hasattr(x, 'F') and isinstance(getattr(x, 'F'), torch.Tensor):
            yield x.F
        elif isinstance(x, (list, tuple)):
            for v in x:
                yield from tensors(v)
        elif isinstance(x, dict):
            for v in x.values():
                yield from tensors(v)

    def hook(name):
        def fn(_module, _inputs, output):
            if not found and any(t.is_floating_point() and not torch.isfinite(t).all()
                                 for t in tensors(output)):
                found.append(name)
        return fn
    for name, module in model.named_modules():
        if name:
            module.register_forward_hook(hook(name))
    return found


def projection_rates(inputs: dict, sample, b: int = 0):
    """(in_image, depth_ok or None) shares of the sample's points; a multi-view sample
    (camera tensors with a frame axis, ``frame_idx`` per point) projects each frame's points
    with that frame's camera and depth map."""
    cam = inputs.get('camera')
    if cam is None:
        return None, None
    pts = inputs['points'][b][:, :3]
    off = inputs.get('elastic_offset')
    off = None if off is None else off[b]
    meta = sample.metainfo
    if cam['pose'][b].dim() == 2:                         # one view
        frames = [(torch.ones(len(pts), dtype=torch.bool), cam['intrinsic'][b],
                   cam['pose'][b], cam['img_shape'][b], meta.get('depth_path'),
                   meta.get('depth_intrinsic'))]
    else:                                                 # (T, ...) per frame
        fidx = inputs['frame_idx'][b]
        paths = meta.get('depth_paths') or [None] * len(cam['pose'][b])
        frames = [(fidx == t, cam['intrinsic'][b][t], cam['pose'][b][t], cam['img_shape'][b][t],
                   paths[t], meta.get('depth_intrinsic')) for t in range(len(cam['pose'][b]))]
    seen = valid = depth_ok = 0.0
    with_depth = True
    for sel, k, pose, img_shape, depth_path, depth_k in frames:
        shape = tuple(int(v) for v in img_shape)
        kw = dict(aug_matrix=cam['aug_matrix'][b], elastic_offset=None if off is None else off[sel])
        _, ok = build_uv_index(pts[sel], k, pose, shape, **kw)
        seen, valid = seen + float(ok.float().sum()), valid + int(sel.sum())
        if not depth_path or not osp.isfile(depth_path):
            with_depth = False
            continue
        depth = np.asarray(Image.open(depth_path), dtype=np.float32) / 1000.0
        _, ok_d = build_uv_index(pts[sel], k, pose, shape, depth=depth, depth_intrinsic=depth_k,
                                 **kw)
        depth_ok += float(ok_d.float().sum())
    return seen / max(valid, 1), (depth_ok / max(seen, 1) if with_depth else None)


def widths(model) -> str:
    parts = []
    enc = getattr(model, 'bi_encoder', None)
    if enc is not None:
        parts.append(f'2D {enc.img_channels} -> conv_reduce {enc.proj2d.in_features} -> '
                     f'fused {enc.out_channels} (3D {enc.proj3d.in_features})')
    inj = getattr(model, 'injector', None)
    if inj is not None:
        outs = ', '.join(f's{s}: {inj.proj[str(s)].out_features}' for s in inj.strides)
        parts.append(f'DINO {inj.in_channels} -> {inj.inject_at} ({outs})')
    return '; '.join(parts) or 'no fusion part'


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'oneformer3d'))
    dataset = DATASETS.build(cfg[f'{args.split}_dataloader'].dataset)
    model = MODELS.build(cfg.model).eval()
    if args.checkpoint:
        from oneformer3d.utils.load_report import load_file_checked
        report = load_file_checked(model, args.checkpoint, strict=not args.allow_partial_load,
                                   hint='the checkpoint does not fit this config; check it with '
                                        'its own config, or opt in with --allow-partial-load')
        print(report.summary())
        if report.missing or report.mismatched:
            print(f'partial load: {report.missing_fraction:.0%} of the weights keep their '
                  f'random initialisation (--allow-partial-load)')
    else:
        print('no --checkpoint: random initialisation (plumbing and projection only)')
    found = non_finite_watch(model)
    print(f'widths: {widths(model)}')
    rows, problems = [], []
    for i in range(min(args.num_samples, len(dataset))):
        sample = dataset[i]
        data = model.data_preprocessor(pseudo_collate([sample]), False)
        t0 = time.perf_counter()
        try:
            with torch.no_grad():
                model(**data, mode='predict')
        except RuntimeError as err:
            if 'DINOFPNInjector' not in str(err):
                raise
            problems.append(f'sample {i}: {err}')
            found.append('pyramid/decoder coordinate mismatch')
        dt = time.perf_counter() - t0
        in_img, depth_ok = projection_rates(data['inputs'], data['data_samples'][0])
        stats = {k: float(v) for k, v in model.fusion_stats().items()}
        levels = ''
        if getattr(model, 'injector', None) is not None:
            levels = ' '.join(f's{s}:{len(t.F)}@{t.tensor_stride[0]}'
                              for s, t in sorted(model.injector.levels.items()))
        row = dict(sample=i, in_image=in_img, depth_ok=depth_ok, seconds=dt, **stats)
        rows.append(row)
        fmt = (lambda v: '-' if v is None else f'{v:.3f}')
        print(f'sample {i}: in_image {fmt(in_img)} depth_ok {fmt(depth_ok)} '
              + ' '.join(f'{k} {v:.3f}' for k, v in stats.items())
              + (f' pyramid {levels}' if levels else '') + f' forward {dt:.2f} s'
              + (f' NON-FINITE at {found[0]}' if found else ''))
        if found:
            problems.append(f'sample {i}: non-finite output of {found[0]}')
            break
    peak = (torch.cuda.max_memory_allocated() / 1024 ** 3 if torch.cuda.is_available()
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2)
    keys = sorted({k for r in rows for k, v in r.items() if isinstance(v, float)})
    for k in keys:
        vals = [r[k] for r in rows if r.get(k) is not None]
        if vals:
            print(f'{k}={np.mean(vals):.4f}')
    print(f'peak_memory_gb={peak:.2f}')
    print(f'problems={len(problems)}')
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
