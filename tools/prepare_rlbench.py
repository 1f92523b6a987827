"""RLBench episode -> the alignment study's layout: RGB frames, point files with a frozen
teacher's per-point features, and per-encoder feature packs.

  python tools/prepare_rlbench.py ../shared/data/rlbench/open_drawer/episode0 \\
      --out-dir data/rlbench --task open_drawer --episode episode0 \\
      --pack-encoders rgb=RGBPatchEncoder dino_s=DINOv2:vit_small_patch14_dinov2 \\
      [--pack-weights dino_s=weights/dinov2_vits14.safetensors] [--stores zarr pt]

Writes ``rgb_dataset/RGB/<task>/<episode>/step_XXXX.png`` (anchor camera), point files
``pc_dataset/PC/<feat-root>/<task>/<episode>/step_XXXX.ply.<tag>.pt`` (see
oneformer3d/datasets/preprocessing/rlbench.py) and packs
``packs/<name>/<task>/<episode>.{zarr,pt}`` (W windows of T frames). Other encoders' packs
made elsewhere (CroCo, VGGT, Depth-Anything-3, ...) go beside them under their own name.
"""
import argparse
import os.path as osp
import sys
import time

import oneformer3d  # noqa: F401
from mmengine.registry import init_default_scope

from oneformer3d.datasets.feature_packs import pack_path
from oneformer3d.datasets.preprocessing.pack_builder import build_pack, episode_frames
from oneformer3d.datasets.preprocessing.rlbench import CAMERAS, prepare_episode
from oneformer3d.registry import MODELS


def parse_spec(spec: str):
    """``name=Type[:model_name]`` -> (name, encoder config)."""
    name, _, rest = spec.partition('=')
    typ, _, model_name = rest.partition(':')
    cfg = dict(type=typ or name)
    if model_name:
        cfg['model_name'] = model_name
    return name, cfg


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('episode_dir')
    p.add_argument('--out-dir', required=True)
    p.add_argument('--task', default='open_drawer')
    p.add_argument('--episode', default='episode0')
    p.add_argument('--anchor', default='front', choices=CAMERAS)
    p.add_argument('--cameras', nargs='+', default=list(CAMERAS[:4]),
                   help='cameras fused into the point cloud (the moving wrist is left out)')
    p.add_argument('--per-camera', action='store_true', help='the anchor camera only')
    p.add_argument('--num-points', type=int, default=4096)
    p.add_argument('--teacher', default='PointMLPEncoder', help='registered point encoder')
    p.add_argument('--teacher-weights', default=None, help='local state dict for the teacher')
    p.add_argument('--feat-root', default='teacher')
    p.add_argument('--tag', default='teacher')
    p.add_argument('--pack-encoders', nargs='*', default=[],
                   help='name=Type[:model_name], e.g. dino_s=DINOv2:vit_small_patch14_dinov2')
    p.add_argument('--pack-weights', nargs='*', default=[], help='name=local weights file')
    p.add_argument('--short-side', type=int, default=224, help='encoder input short side')
    p.add_argument('--window', type=int, default=8)
    p.add_argument('--window-stride', type=int, default=4)
    p.add_argument('--stores', nargs='+', default=['zarr'], choices=['zarr', 'pt'])
    p.add_argument('--seed', type=int, default=0,
                   help='torch seed set before each pack encoder is built, so random-init '
                        'encoders (no --pack-weights) give the same packs on every run')
    args = p.parse_args(argv)
    init_default_scope('oneformer3d')
    t0 = time.time()
    import torch
    teacher = MODELS.build(dict(type=args.teacher)).eval()
    if args.teacher_weights:
        teacher.load_state_dict(torch.load(args.teacher_weights, map_location='cpu',
                                           weights_only=True))
    stats = prepare_episode(args.episode_dir, args.out_dir, args.task, args.episode, teacher,
                            args.teacher, anchor=args.anchor, cameras=args.cameras,
                            fused=not args.per_camera, num_points=args.num_points,
                            feat_root=args.feat_root, tag=args.tag)
    print(f'point files: steps={stats["steps"]} points={stats["points_mean"]:.0f} '
          f'visible_in_anchor={stats["visible_in_anchor"]:.2f}')
    weights = dict(w.split('=', 1) for w in args.pack_weights)
    frames = episode_frames(osp.join(args.out_dir, 'rgb_dataset', 'RGB', args.task,
                                     args.episode))
    for spec in args.pack_encoders:
        name, cfg = parse_spec(spec)
        if name in weights:
            cfg['pretrained'] = weights[name]
        cfg['short_side'] = args.short_side
        torch.manual_seed(args.seed)
        encoder = MODELS.build(cfg)
        outs = [pack_path(osp.join(args.out_dir, 'packs'), name, args.task, args.episode, s)
                for s in args.stores]
        res = build_pack(encoder, name, frames, outs, args.window, args.window_stride)
        for path, size in res['bytes'].items():
            print(f'pack {name}: {res["shape"]} -> {path} ({size / 1e6:.1f} MB)')
    print(f'time_s={time.time() - t0:.1f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
