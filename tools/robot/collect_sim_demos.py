"""Scripted-expert demonstrations of Meta-World tasks in the RLBench episode layout.

    python tools/robot/collect_sim_demos.py --task drawer-open-v3 --seeds 0-39 \\
        --out-dir data/metaworld/demos --workers 2

One episode folder per seed, ``<out-dir>/<task>/episode<seed>/`` (layout:
oneformer3d/robot/sim/demos.py), which ``tools/robot/prepare_rlbench.py`` reads like an RLBench
export (``--task <task> --anchor corner2 --cameras corner2 corner3 --workspace ...``; the
sim benchmark passes these). Finished episodes (``episode.json``) are skipped, so an
interrupted run resumes; an episode made with other settings is refused. Seeds whose expert
fails, or whose cloud is empty inside the workspace at some step, are counted and left out.
Prints ``task=T seeds=N written=W skipped_existing=S expert_failures=F empty_cloud_demos=E
time_s=X``.
"""
import argparse
import json
import multiprocessing as mp
import os
import os.path as osp
import sys
import time
import warnings

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_SIM = {}


def made_by(args) -> dict:
    from importlib.metadata import version
    return dict(cameras=list(args.cameras), image_size=args.image_size,
                keyframe_turn_deg=args.keyframe_turn, keyframe_min_gap=args.keyframe_min_gap,
                workspace=list(args.workspace),
                max_steps=args.max_steps, metaworld=version('metaworld'),
                mujoco=version('mujoco'))


def _init(args) -> None:
    os.environ['OMP_NUM_THREADS'] = '1'
    warnings.filterwarnings('ignore', message='Constant.*too high')
    from oneformer3d.robot.sim.metaworld_env import MetaWorldTask
    _SIM['sim'] = MetaWorldTask(args.task, cameras=args.cameras, image_size=args.image_size,
                                max_steps=args.max_steps)
    _SIM['args'] = args


def _collect(seed: int) -> dict:
    from oneformer3d.robot.sim.demos import record_demo
    args = _SIM['args']
    return record_demo(_SIM['sim'], seed, args.out_dir, args.keyframe_turn,
                       args.keyframe_min_gap, args.workspace, made_by=made_by(args))


def parse_args(argv=None):
    from oneformer3d.robot.sim.metaworld_env import CAMERAS, IMAGE_SIZE, WORKSPACE
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--task', required=True, help='Meta-World v3 task (drawer-open-v3, ...)')
    p.add_argument('--seeds', required=True, help='A-B (inclusive) or A,B,C: one demo each')
    p.add_argument('--out-dir', required=True)
    p.add_argument('--cameras', nargs='+', default=list(CAMERAS),
                   help='rendered cameras (the first is the anchor)')
    p.add_argument('--image-size', type=int, default=IMAGE_SIZE)
    p.add_argument('--keyframe-turn', type=float, default=45.0,
                   help='a keyframe where the expert\'s commanded direction turns by more (deg)')
    p.add_argument('--keyframe-min-gap', type=int, default=5, help='steps between such turns')
    p.add_argument('--workspace', type=float, nargs=6, default=list(WORKSPACE),
                   metavar=('X0', 'X1', 'Y0', 'Y1', 'Z0', 'Z1'))
    p.add_argument('--max-steps', type=int, default=300, help='episode limit of the expert')
    p.add_argument('--workers', type=int, default=1)
    args = p.parse_args(argv)
    from oneformer3d.robot.sim.metaworld_env import parse_seeds
    try:
        args.seed_list = parse_seeds(args.seeds)
    except ValueError as err:
        p.error(str(err))
    return args


def main(argv=None):
    import oneformer3d.robot.sim  # noqa: F401  (OpenGL backend before mujoco loads)
    from tqdm import tqdm
    from oneformer3d.robot.sim.demos import finished
    from oneformer3d.robot.sim.metaworld_env import check_task
    args = parse_args(argv)
    try:
        check_task(args.task)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    t0 = time.time()
    want = made_by(args)
    todo, skipped = [], 0
    for seed in args.seed_list:
        meta = finished(args.out_dir, args.task, seed)
        if meta is None:
            todo.append(seed)
            continue
        diff = {k: (meta.get(k, 'unrecorded'), v) for k, v in want.items()
                if meta.get(k, 'unrecorded') != v}
        if diff:
            raise SystemExit(f'{osp.join(args.out_dir, args.task, f"episode{seed}")}: made with '
                             f'other settings (stored vs asked: {diff}); use another --out-dir')
        skipped += 1
    results = []
    bar = tqdm(total=len(todo), desc=args.task, unit='demo')
    if args.workers > 1 and len(todo) > 1:
        with mp.get_context('spawn').Pool(args.workers, initializer=_init,
                                          initargs=(args,)) as pool:
            for res in pool.imap_unordered(_collect, todo):
                results.append(res)
                bar.update()
    elif todo:
        _init(args)
        try:
            for seed in todo:
                results.append(_collect(seed))
                bar.update()
        finally:
            _SIM.pop('sim').close()
    bar.close()
    failures = sorted(r['seed'] for r in results if not r['success'])
    empty = sorted(r['seed'] for r in results if r['success'] and r['empty_cloud_steps'])
    written = sum(r['written'] for r in results)
    os.makedirs(osp.join(args.out_dir, args.task), exist_ok=True)
    with open(osp.join(args.out_dir, args.task, 'collect_log.jsonl'), 'a') as fh:
        fh.write(json.dumps(dict(seeds=args.seeds, results=sorted(
            results, key=lambda r: r['seed']))) + '\n')
    if failures:
        print(f'expert failed on seeds {failures}')
    if empty:
        print(f'empty cloud inside the workspace {args.workspace} on some step of seeds {empty}')
    print(f'task={args.task} seeds={len(args.seed_list)} written={written} '
          f'skipped_existing={skipped} expert_failures={len(failures)} '
          f'empty_cloud_demos={len(empty)} time_s={time.time() - t0:.1f}', flush=True)
    return 0


if __name__ == '__main__':
    sys.path.insert(0, REPO)
    sys.exit(main())
