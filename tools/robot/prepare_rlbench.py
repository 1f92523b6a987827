"""RLBench episodes -> the alignment / action study's layout: RGB frames, point files with a
frozen teacher's per-point features, per-encoder feature packs, and per-step actions.

  # all eight shared episodes (a folder of episodes), progress bar, finished ones skipped
  python tools/robot/prepare_rlbench.py ../shared/data/rlbench/open_drawer --out-dir data/rlbench \\
      --pack-encoders rgb=RGBPatchEncoder dino_s=DINOv2:vit_small_patch14_dinov2 \\
      dino3_s=DINOv3:vit_small_patch16_dinov3 \\
      [--pack-weights dino_s=weights/dinov2_vits14.safetensors] [--stores zarr pt]
  # some episodes of it, or episode folders given one by one
  python tools/robot/prepare_rlbench.py ../shared/data/rlbench/open_drawer \
      --episodes episode0 episode6 ...
  python tools/robot/prepare_rlbench.py ../shared/data/rlbench/open_drawer/episode0 --out-dir ...

Writes per episode ``rgb_dataset/RGB/<task>/<episode>/step_XXXX.png`` (anchor camera), point
files ``pc_dataset/PC/<feat-root>/<task>/<episode>/step_XXXX.ply.<tag>.pt`` (see
oneformer3d/datasets/preprocessing/rlbench.py), packs ``packs/<name>/<task>/<episode>.{zarr,pt}``
(W windows of T frames), the teacher's weights
(``pc_dataset/PC/<feat-root>/teacher_weights.pth``), the settings (``prepare_args.json``) and
``actions/<task>/<episode>.npz`` (proprioception, keyframes, next-keyframe targets; written
last, so its presence marks a finished episode: skipped unless ``--overwrite``). Other
encoders' packs made elsewhere (CroCo, VGGT, Depth-Anything-3, ...) go beside them under their
own name (pack schema: docs/robot.md).
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import oneformer3d.robot  # noqa: F401  (registers the robot stack)
from mmengine.registry import init_default_scope
from tqdm import tqdm

from oneformer3d.robot.datasets.feature_packs import FeaturePack, pack_path
from oneformer3d.robot.preprocessing.pack_builder import build_pack, episode_frames
from oneformer3d.robot.preprocessing.prepare_settings import (build_pack_encoders,
                                                                 pack_encoder_configs,
                                                                 teacher_weights_path)
from oneformer3d.robot.preprocessing.rlbench import (CAMERAS, actions_path, prepare_episode,
                                                        write_episode_actions)
from oneformer3d.registry import MODELS


INCOMPLETE = []   # episode folders skipped for lack of cameras_and_state.npz (reported)


def check_made_by(path: str, made_by: dict) -> None:
    """Raises ``SystemExit`` when a finished episode's point files were made with other
    settings than ``made_by`` (its ``.made_by.json``), naming the differences."""
    try:
        with open(path) as fh:
            stored = json.load(fh)
    except (OSError, ValueError):
        stored = {}
    diff = {k: (stored.get(k, 'unrecorded'), v) for k, v in made_by.items()
            if stored.get(k, 'unrecorded') != v}
    if diff:
        raise SystemExit(f'{path}: the finished episode was prepared with other settings '
                         f'(stored vs asked: {diff}); re-run with --overwrite, or prepare into '
                         f'another --out-dir')


def check_pack_maker(path: str, encoder, frame: str) -> None:
    """Raises ``SystemExit`` naming the pack when it was made by another encoder type or
    holds another channel count than ``encoder`` gives (the same pack name reused)."""
    from PIL import Image
    pack = FeaturePack(path)
    w, h = Image.open(frame).size
    want = (encoder.name, encoder.feat_shape((h, w))[0])
    have = (pack.meta.get('encoder_type'), pack.shape[-1])
    if have != want:
        raise SystemExit(f'{path}: made by {have[0]} with {have[1]} channels, the pack encoder '
                         f'asked for under this name is {want[0]} with {want[1]}: use another '
                         f'pack name, or --overwrite')


def find_episodes(paths, names=None) -> list:
    """``[(episode name, folder)]``: each path is an episode folder (it holds
    ``cameras_and_state.npz``) or a folder of them; ``names`` keeps only those episodes.

    Raises:
        SystemExit: a path that is neither, or a requested episode that is not found.
    """
    found = []
    for path in paths:
        if osp.isfile(osp.join(path, 'cameras_and_state.npz')):
            found.append((osp.basename(osp.normpath(path)), path))
            continue
        subs = sorted((d for d in os.listdir(path) if osp.isfile(
            osp.join(path, d, 'cameras_and_state.npz'))) if osp.isdir(path) else [],
            key=lambda d: (len(d), d))
        for d in sorted(os.listdir(path)) if subs else []:   # episodes without their state
            sub = osp.join(path, d)
            if d not in subs and osp.isdir(sub) and any(
                    x.endswith('_rgb') for x in os.listdir(sub)):
                INCOMPLETE.append(sub)
                print(f'{sub}: camera images but no cameras_and_state.npz: episode skipped',
                      file=sys.stderr)
        if not subs:
            raise SystemExit(f'{path}: neither an episode folder (cameras_and_state.npz) nor '
                             f'a folder of episodes')
        found += [(d, osp.join(path, d)) for d in subs]
    if names:
        missing = set(names) - {n for n, _ in found}
        if missing:
            raise SystemExit(f'--episodes {sorted(missing)}: not found under {paths}')
        found = [(n, p) for n, p in found if n in names]
    return found


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('paths', nargs='+', help='episode folders or folders of episodes')
    p.add_argument('--episodes', nargs='+', help='only these episode names')
    p.add_argument('--out-dir', required=True)
    p.add_argument('--task', default='open_drawer')
    p.add_argument('--anchor', default='front',
                   help=f'camera of the RGB frames (RLBench: {", ".join(CAMERAS)}; simulated '
                        f'episodes: their own camera names)')
    p.add_argument('--cameras', nargs='+', default=list(CAMERAS[:4]),
                   help='cameras fused into the point cloud (the moving wrist is left out)')
    p.add_argument('--per-camera', action='store_true', help='the anchor camera only')
    p.add_argument('--num-points', type=int, default=4096)
    p.add_argument('--workspace', type=float, nargs=6, default=None,
                   metavar=('X0', 'X1', 'Y0', 'Y1', 'Z0', 'Z1'),
                   help='crop of the fused cloud (m, world; PerAct scene bounds)')
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
    p.add_argument('--overwrite', action='store_true', help='redo finished episodes')
    p.add_argument('--seed', type=int, default=0,
                   help='torch seed set before each pack encoder is built, so random-init '
                        'encoders (no --pack-weights) give the same packs on every run')
    args = p.parse_args(argv)
    init_default_scope('oneformer3d')
    t0 = time.time()
    import torch
    INCOMPLETE.clear()
    episodes = find_episodes(args.paths, args.episodes)
    # the teacher's weights as used, beside its point files: a random-init teacher is the
    # same for every episode of an out-dir (a resumed run loads it) and the closed-loop
    # evaluation (tools/robot/eval_closed_loop.py) rebuilds the point features with it
    teacher_file = teacher_weights_path(args.out_dir, args.feat_root)
    torch.manual_seed(args.seed)
    teacher = MODELS.build(dict(type=args.teacher)).eval()
    source = args.teacher_weights or (teacher_file if osp.isfile(teacher_file) else None)
    if source:
        teacher.load_state_dict(torch.load(source, map_location='cpu', weights_only=True))
    os.makedirs(osp.dirname(teacher_file), exist_ok=True)
    torch.save(teacher.state_dict(), teacher_file + f'.{os.getpid()}.tmp')
    os.replace(teacher_file + f'.{os.getpid()}.tmp', teacher_file)
    settings = osp.join(args.out_dir, 'prepare_args.json')
    with open(settings + f'.{os.getpid()}.tmp', 'w') as fh:
        json.dump({k: v for k, v in vars(args).items()
                   if k not in ('paths', 'episodes', 'overwrite')}, fh, indent=1)
    os.replace(settings + f'.{os.getpid()}.tmp', settings)
    encoders = build_pack_encoders(
        pack_encoder_configs(args.pack_encoders, args.pack_weights, args.short_side), args.seed)
    # what an episode's point files depend on: a finished one is reused only for the same
    made_by = dict(teacher=args.teacher, teacher_weights=args.teacher_weights,
                   anchor=args.anchor, cameras=list(args.cameras), fused=not args.per_camera,
                   num_points=args.num_points, feat_root=args.feat_root, tag=args.tag)
    if args.workspace is not None:        # recorded only when used: older sidecars stay valid
        made_by['workspace'] = list(args.workspace)
    done = 0
    for episode, root in tqdm(episodes, desc='episodes', unit='ep'):
        sidecar = actions_path(args.out_dir, args.task, episode)[:-len('.npz')] + '.made_by.json'
        finished = (osp.isfile(actions_path(args.out_dir, args.task, episode))
                    and not args.overwrite)
        if finished:
            check_made_by(sidecar, made_by)
        if not finished:
            stats = prepare_episode(root, args.out_dir, args.task, episode, teacher,
                                    args.teacher, anchor=args.anchor, cameras=args.cameras,
                                    fused=not args.per_camera, num_points=args.num_points,
                                    feat_root=args.feat_root, tag=args.tag,
                                    workspace=args.workspace)
        frames = episode_frames(osp.join(args.out_dir, 'rgb_dataset', 'RGB', args.task,
                                         episode))
        for name, encoder in encoders.items():
            # a finished episode still gets the packs it lacks; an existing pack must have
            # been made by the encoder asked for under that name
            outs = [pack_path(osp.join(args.out_dir, 'packs'), name, args.task, episode, s)
                    for s in args.stores]
            if finished:
                for out in (o for o in outs if osp.exists(o)):
                    check_pack_maker(out, encoder, frames[0])
                outs = [o for o in outs if not osp.exists(o)]
            if not outs:
                continue
            res = build_pack(encoder, name, frames, outs, args.window, args.window_stride)
            for path, size in res['bytes'].items():
                tqdm.write(f'{episode}: pack {name} {res["shape"]} -> {path} '
                           f'({size / 1e6:.1f} MB)')
        if finished:
            done += 1
            continue
        os.makedirs(osp.dirname(sidecar), exist_ok=True)
        with open(sidecar, 'w') as fh:
            json.dump(made_by, fh)
        act = write_episode_actions(root, args.out_dir, args.task, episode)   # last: finished
        tqdm.write(f'{episode}: steps={stats["steps"]} points={stats["points_mean"]:.0f} '
                   f'visible_in_anchor={stats["visible_in_anchor"]:.2f} '
                   f'keyframes={act["keyframes"]} variation={act["variation"]}')
    print(f'episodes={len(episodes)} prepared={len(episodes) - done} skipped_existing={done} '
          f'skipped_no_state={len(INCOMPLETE)} '
          f'time_s={time.time() - t0:.1f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
