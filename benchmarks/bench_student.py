"""Stage 3 in one run: the RGB teacher path vs the distilled student on raw frames.

    python benchmarks/bench_student.py [--config configs/robot/deploy_student_rlbench.py]
        [--checkpoint work_dirs/deploy_student_rlbench/iter_600.pth] [--threads 2]

* speed: per frame, batch 1 and batch 32, of the teacher path (every pack encoder on the raw
  anchor frame + the stage-2 token encoder) and of the student (one timm network), the two
  interleaved repetition by repetition, ``torch.set_num_threads(--threads)``;
* size: parameters and FLOPs (``torch.utils.flop_counter``, one 128x128 frame) of each;
* accuracy: the frozen stage-2 head's metrics on the held-out episodes (the config's test
  split) fed with the student's tokens and with the teacher's (needs ``--checkpoint``, the
  distiller's; without it the speed/size lines only).

Prints ``student_speedup=<x>`` (teacher / student time per frame at batch 32; goal >= 10) and
``student_trans_err_ratio=<x>`` (student / teacher ``trans_err_cm``; goal <= 1.1), one
``name=value`` line each, after a table.
"""
import argparse
import time

import numpy as np
import torch


def flops(module, x) -> int:
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(x)
    return counter.get_total_flops()


def per_frame_ms(fns: dict, x, reps: int) -> dict:
    times = {k: [] for k in fns}
    with torch.no_grad():
        for fn in fns.values():
            fn(x)                                   # warm-up
        for _ in range(reps):
            for k, fn in fns.items():
                t0 = time.perf_counter()
                fn(x)
                times[k].append((time.perf_counter() - t0) * 1000 / len(x))
    return {k: float(np.median(v)) for k, v in times.items()}


def stage2_metrics(cfg, checkpoint: str) -> dict:
    """ActionMetric of the distiller predicting with the student and with the teacher."""
    from oneformer3d.engine import Runner
    out = {}
    for who in ('student', 'teacher'):
        c = cfg.copy()
        c.model.predict_with = who
        c.load_from = checkpoint
        c.work_dir = f'work_dirs/bench_student/{who}'
        runner = Runner.from_cfg(c)
        out[who] = runner.test()
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--config', default='configs/robot/deploy_student_rlbench.py')
    p.add_argument('--checkpoint')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--reps', type=int, default=5)
    p.add_argument('--size', type=int, default=128, help='frame side (RLBench: 128)')
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    import oneformer3d.robot  # noqa: F401  (registers the robot stack)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from oneformer3d.registry import MODELS
    init_default_scope('oneformer3d')
    from oneformer3d.engine.run_links import resolve_run_links
    cfg = resolve_run_links(Config.fromfile(args.config))   # the teacher's stage-2 policy run
    if not args.checkpoint:
        cfg.model.teacher.policy_checkpoint = None      # random init: speed and size only
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    teacher, student = model.teacher, model.student
    rows = {}
    for batch in (1, 32):
        x = torch.randint(0, 256, (batch, 3, args.size, args.size), dtype=torch.uint8)
        rows[batch] = per_frame_ms(dict(teacher=teacher, student=student), x, args.reps)
    x1 = torch.randint(0, 256, (1, 3, args.size, args.size), dtype=torch.uint8)
    size = {k: (sum(q.numel() for q in m.parameters()), flops(m, x1))
            for k, m in (('teacher', teacher), ('student', student))}
    print('| path | ms/frame batch 1 | ms/frame batch 32 | parameters | GFLOPs/frame |')
    print('|---|---|---|---|---|')
    for k in ('teacher', 'student'):
        print(f'| {k} | {rows[1][k]:.2f} | {rows[32][k]:.2f} | {size[k][0]:,} | '
              f'{size[k][1] / 1e9:.3f} |')
    if args.checkpoint:
        m = stage2_metrics(cfg, args.checkpoint)
        for who in ('teacher', 'student'):
            print(f'{who}: ' + ' '.join(f'{k}={v:.3f}' for k, v in m[who].items()))
    print(f'student_speedup={rows[32]["teacher"] / rows[32]["student"]:.2f}')
    print(f'student_speedup_batch1={rows[1]["teacher"] / rows[1]["student"]:.2f}')
    if args.checkpoint:
        print(f'student_trans_err_ratio='
              f'{m["student"]["trans_err_cm"] / m["teacher"]["trans_err_cm"]:.3f}')
    return 0


if __name__ == '__main__':
    main()
