"""Export the stage-3 student to a TorchScript file that runs with torch alone.

    python tools/robot/export_student.py configs/robot/deploy_student_rlbench.py \\
        work_dirs/deploy_student_rlbench/iter_600.pth --out work_dirs/student.ts \\
        [--frames data/rlbench/rgb_dataset/RGB/open_drawer/episode6]

The file maps uint8 frames (B, 3, H, W) to the teacher's token set (B, K, D)
(``torch.jit.load(path)(frames)``; normalisation is inside). The check runs the exported
module and the eager student on real frames (``--frames``, default the first held-out
episode's; batch 1 and 8) and exits 1 when they differ by more than ``--atol``.
"""
import argparse
import glob
import os
import os.path as osp
import sys

import numpy as np
import torch
from PIL import Image


def load_frames(folder: str, count: int) -> torch.Tensor:
    paths = sorted(glob.glob(osp.join(folder, 'step_*.png')))[:count]
    if not paths:
        raise SystemExit(f'{folder}: no step_XXXX.png frames')
    return torch.from_numpy(np.stack([np.array(Image.open(p).convert('RGB')) for p in paths])
                            ).permute(0, 3, 1, 2).contiguous()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config')
    p.add_argument('checkpoint', nargs='?', help='the trained distiller checkpoint')
    p.add_argument('--random-init', action='store_true',
                   help='no checkpoint: export a random student (plumbing only, said so)')
    p.add_argument('--out', required=True)
    p.add_argument('--frames', help='folder of step_XXXX.png frames for the check')
    p.add_argument('--atol', type=float, default=1e-4)
    args = p.parse_args(argv)
    if not args.checkpoint and not args.random_init:
        p.error('the export is for a trained student: give its distiller checkpoint (or '
                '--random-init to check the export with random weights)')
    import oneformer3d.robot  # noqa: F401  (registers the robot stack)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from oneformer3d.registry import MODELS
    init_default_scope('oneformer3d')
    cfg = Config.fromfile(args.config)
    student = MODELS.build(cfg.model.student)
    if args.checkpoint:
        from oneformer3d.utils.load_report import load_file_checked
        print(load_file_checked(student, args.checkpoint, prefix='student.', hint=(
            'the checkpoint was written by another student config: export it with its own '
            'config')).summary())
    else:
        print('--random-init: exporting a random student (plumbing only)')
    student.eval()
    ds = cfg.test_dataloader.dataset
    folder = args.frames or osp.join(ds.data_root, 'rgb_dataset', 'RGB', ds.task,
                                     ds.episodes[0])
    frames = load_frames(folder, 8)
    with torch.no_grad():
        scripted = torch.jit.trace(student, frames[:1])
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    scripted.save(args.out)
    loaded = torch.jit.load(args.out)
    worst = 0.0
    with torch.no_grad():
        for batch in (frames[:1], frames):
            worst = max(worst, float((loaded(batch) - student(batch)).abs().max()))
    print(f'exported: {args.out} ({osp.getsize(args.out) / 1e6:.1f} MB) '
          f'max_abs_diff={worst:.2e} frames={len(frames)} from {folder}')
    return 0 if worst <= args.atol else 1


if __name__ == '__main__':
    sys.exit(main())
