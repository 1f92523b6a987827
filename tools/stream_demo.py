"""Stream a posed RGB-D sequence through the online model and draw the growing instance map.

  python tools/stream_demo.py configs/esam/ESAM_online_3d_scannet_sample.py \\
      --infos data/scannet_sample_mv/scannet_mv_oneformer3d_infos_val.pkl \\
      [--checkpoint work_dirs/ESAM_online_3d_scannet_sample/iter_60.pth] [--every 1] \\
      [--frames 60] [--out DIR] [--animation gif|mp4|none]

Every ``--every`` frames writes ``<out>/frame_XXXX.png`` with three panels: the frame's
camera image, the frame's predicted instances projected onto it, and the merged scene
top-down (accumulated points grey, scene instances coloured, the camera as a triangle). At
the end the PNGs become ``<out>/stream.gif`` (Pillow; ``--animation mp4`` writes
``stream.mp4`` with ``imageio`` when it is installed). Prints the file names; the last line
sums the run.
"""
import argparse
import os.path as osp
import sys
import time

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image
from tqdm import tqdm

import oneformer3d  # noqa: F401
from oneformer3d.datasets.sequence_stream import SequenceStream
from oneformer3d.models.online.sequence import OnlineSession
from oneformer3d.registry import MODELS
from oneformer3d.utils.load_report import load_file_checked
from oneformer3d.visualization import save_animation, save_stream_png


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config')
    p.add_argument('--infos', required=True, help='MV infos (create_data.py *_mv)')
    p.add_argument('--sample', type=int, default=0)
    p.add_argument('--checkpoint', default=None,
                   help='the trained online model (strict: every key must fit)')
    p.add_argument('--allow-partial-load', action='store_true',
                   help='a checkpoint that fits only partly (report printed)')
    p.add_argument('--random-init', action='store_true',
                   help='no checkpoint: random weights (plumbing only; said on every picture)')
    p.add_argument('--frames', type=int, default=None, help='default: the sequence once')
    p.add_argument('--every', type=int, default=1, help='a picture every k-th frame')
    p.add_argument('--animation', choices=['gif', 'mp4', 'none'], default='gif',
                   help='the pictures as one animation (mp4 needs imageio)')
    p.add_argument('--out', default=None, help='default: work_dirs/stream_demo/<scene>')
    args = p.parse_args(argv)
    if not args.checkpoint and not args.random_init:
        p.error('the stream demo shows a trained model: give --checkpoint (or --random-init '
                'to check the plumbing with random weights)')
    init_default_scope('oneformer3d')
    cfg = Config.fromfile(args.config)
    model = MODELS.build(cfg.model)
    if args.checkpoint:
        print(load_file_checked(model, args.checkpoint, strict=not args.allow_partial_load,
                                hint='the checkpoint does not fit this config; use its own '
                                     'config, or opt in with --allow-partial-load').summary())
    model.eval()
    weights = 'random weights' if not args.checkpoint else osp.basename(args.checkpoint)
    stream = SequenceStream(args.infos, args.sample, args.frames)
    out = args.out or osp.join('work_dirs', 'stream_demo', stream.info['scene_id'])
    session = OnlineSession(model)
    background, pictures, t0 = [], [], time.time()
    for fr in tqdm(stream, desc='stream', unit='frame'):
        inst, counts = session.step(fr['points'], fr['superpoints'])
        xyz = fr['points'][:, :3].numpy()
        background.append(xyz[np.random.default_rng(fr['index']).choice(
            len(xyz), min(2000, len(xyz)), replace=False)])
        last = fr['index'] == len(stream) - 1
        if (fr['index'] + 1) % args.every == 0 or last:
            image = np.asarray(Image.open(fr['img_path']).convert('RGB'))
            path = save_stream_png(
                osp.join(out, f'frame_{fr["index"]:04d}.png'), session.merger, image,
                fr['intrinsic'], fr['pose'], np.concatenate(background)[::3],
                f'{stream.info["scene_id"]} frame {fr["index"] + 1} ({weights}): '
                f'+{counts["new"]} new, '
                f'{counts["merged"]} merged, {counts["kept"]} kept', frame_xyz=xyz,
                frame_masks=masks_of(inst, len(xyz)))
            pictures.append(path)
            tqdm.write(f'wrote {path}')
    if args.animation != 'none':
        try:
            anim = save_animation(pictures, osp.join(out, f'stream.{args.animation}'))
            print(f'animation: {anim}')
        except ImportError as err:
            print(f'no animation: {err} (pip install imageio imageio-ffmpeg for mp4; '
                  f'--animation gif needs only Pillow)')
    stats = session.merger.stats
    print(f'frames={stats["frames"]} instances={len(session.merger)} new={stats["new"]} '
          f'merged={stats["merged"]} evicted={stats["evicted"]} '
          f'state_mb={session.state_nbytes() / 1e6:.2f} time_s={time.time() - t0:.1f}')
    return 0


def masks_of(inst, num_points: int) -> np.ndarray:
    """(K, N) bool point masks of a frame's predicted instances (none: (0, N))."""
    masks = getattr(inst, 'pts_instance_mask', None)
    if masks is None or len(masks) == 0:
        return np.zeros((0, num_points), bool)
    return np.asarray(masks.cpu() if isinstance(masks, torch.Tensor) else masks, dtype=bool)


if __name__ == '__main__':
    torch.set_grad_enabled(False)
    sys.exit(main())
