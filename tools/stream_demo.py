"""Stream a posed RGB-D sequence through the online model and draw the growing instance map.

  python tools/stream_demo.py configs/esam/ESAM_online_3d_scannet_sample.py \\
      --infos data/sevenscenes_mv/sevenscenes_mv_oneformer3d_infos_val.pkl \\
      [--checkpoint work_dirs/.../iter_60.pth] [--every 10] [--frames 50] [--out DIR]

Every ``--every`` frames writes ``<out>/frame_XXXX.png``: top-down (accumulated points grey,
scene instances coloured) beside the camera image with the instances projected onto it.
Prints per-frame merge counts; the last line sums the run.
"""
import argparse
import os.path as osp
import sys
import time

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from PIL import Image
from tqdm import tqdm

import oneformer3d  # noqa: F401
from oneformer3d.datasets.sequence_stream import SequenceStream
from oneformer3d.models.online.sequence import OnlineSession
from oneformer3d.registry import MODELS
from oneformer3d.visualization import save_stream_png


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config')
    p.add_argument('--infos', required=True, help='MV infos (create_data.py *_mv)')
    p.add_argument('--sample', type=int, default=0)
    p.add_argument('--checkpoint', default=None, help='default: random init (plumbing only)')
    p.add_argument('--frames', type=int, default=None, help='default: the sequence once')
    p.add_argument('--every', type=int, default=10)
    p.add_argument('--out', default=None, help='default: work_dirs/stream_demo/<scene>')
    args = p.parse_args(argv)
    init_default_scope('oneformer3d')
    cfg = Config.fromfile(args.config)
    model = MODELS.build(cfg.model)
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()
    stream = SequenceStream(args.infos, args.sample, args.frames)
    out = args.out or osp.join('work_dirs', 'stream_demo', stream.info['scene_id'])
    session = OnlineSession(model)
    background, t0 = [], time.time()
    for fr in tqdm(stream, desc='stream', unit='frame'):
        _, counts = session.step(fr['points'], fr['superpoints'])
        xyz = fr['points'][:, :3].numpy()
        background.append(xyz[np.random.default_rng(fr['index']).choice(
            len(xyz), min(2000, len(xyz)), replace=False)])
        last = fr['index'] == len(stream) - 1
        if (fr['index'] + 1) % args.every == 0 or last:
            image = np.asarray(Image.open(fr['img_path']).convert('RGB'))
            path = save_stream_png(
                osp.join(out, f'frame_{fr["index"]:04d}.png'), session.merger, image,
                fr['intrinsic'], fr['pose'], np.concatenate(background)[::3],
                f'{stream.info["scene_id"]} frame {fr["index"] + 1}: +{counts["new"]} new, '
                f'{counts["merged"]} merged, {counts["kept"]} kept')
            tqdm.write(f'wrote {path}')
    stats = session.merger.stats
    print(f'frames={stats["frames"]} instances={len(session.merger)} new={stats["new"]} '
          f'merged={stats["merged"]} evicted={stats["evicted"]} '
          f'state_mb={session.state_nbytes() / 1e6:.2f} time_s={time.time() - t0:.1f}')
    return 0


if __name__ == '__main__':
    torch.set_grad_enabled(False)
    sys.exit(main())
