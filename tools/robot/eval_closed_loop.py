"""Closed-loop success of trained policies in Meta-World, one run per input.

    python tools/robot/eval_closed_loop.py --task drawer-open-v3 --data-root DATA \\
        --runs pc=WORK/action_head_rlbench_pc proprio=WORK/action_head_rlbench_proprio \\
        --eval-seeds 1000-1049 [--expert] [--max-steps 200] [--out-dir DIR]

``--runs input=work_dir``: a finished stage-2 (or stage-3 ``student``) run — the config the
Runner dumped there (``*.py``) and its ``last_checkpoint``; inputs ``pc``, ``rgb_aligned``,
``rgb`` (the pack features before alignment: the ``rgb_raw`` config), ``proprio``,
``student``. ``DATA``: the prepared data root the runs trained on (``prepare_args.json`` and
the point teacher's weights; the observation is turned into inputs exactly as the training
data was). Evaluation seeds that are seeds of the prepared demos are refused.

Prints one line per input: ``task=T input=I success=K/N ci95=[lo,hi] mean_steps=S
policy_ms=M empty_cloud_steps=E gain=G`` (Wilson interval; policy time per step with one
thread; the controller gain: ``--gain`` for a head trained on next-keyframe targets,
``1 / action_scale`` for one trained on ``target='expert_action'``);
``--expert`` adds the scripted expert's row. Writes ``<out-dir>/closed_loop_<task>.jsonl``
(one record per rollout) and ``<out-dir>/strip_<task>_<input>.png`` (frames of the first
success and the first failure). Controller and interface: oneformer3d/robot/sim/closed_loop.py.
"""
import argparse
import glob
import json
import os
import os.path as osp
import re
import sys
import time
import warnings

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def run_files(work_dir: str) -> tuple:
    """(config, checkpoint) of a finished run folder; SystemExit naming what is missing."""
    from oneformer3d.engine.run_links import finished_run_files
    try:
        return finished_run_files(work_dir)
    except FileNotFoundError as err:
        raise SystemExit(str(err)) from None


def demo_seeds(data_root: str, task: str) -> set:
    """Seeds of the prepared demos (``actions/<task>/episode<seed>.npz``)."""
    names = glob.glob(osp.join(data_root, 'actions', task, 'episode*.npz'))
    return {int(m.group(1)) for m in (re.search(r'episode(\d+)\.npz$', n) for n in names) if m}


def save_strip(rollouts: list, path: str, title: str, frames_per_row: int = 8) -> bool:
    """One row of evenly spaced frames per rollout (first success, first failure)."""
    import numpy as np
    from PIL import Image, ImageDraw
    rows = []
    for label, r in rollouts:
        idx = np.linspace(0, len(r['frames']) - 1, frames_per_row).round().astype(int)
        row = np.concatenate([r['frames'][i] for i in idx], axis=1)
        band = Image.new('RGB', (row.shape[1], 14), 'white')
        ImageDraw.Draw(band).text((2, 1), f'{title} seed {r["seed"]}: {label}, '
                                          f'{r["steps"]} steps', fill='black')
        rows += [np.asarray(band), row]
    if not rows:
        return False
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)
    return True


def parse_args(argv=None):
    import oneformer3d.robot.sim  # noqa: F401  (OpenGL backend before mujoco loads)
    from oneformer3d.robot.sim.closed_loop import INPUTS
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--task', required=True)
    p.add_argument('--data-root', required=True, help='the prepared data the runs used')
    p.add_argument('--runs', nargs='*', default=[], metavar='INPUT=WORK_DIR',
                   help=f'inputs: {", ".join(INPUTS)}')
    p.add_argument('--expert', action='store_true', help="also the scripted expert's row")
    p.add_argument('--eval-seeds', required=True, help='A-B (inclusive) or A,B,C')
    p.add_argument('--max-steps', type=int, default=200)
    p.add_argument('--gain', type=float, default=10.0,
                   help="proportional controller gain of next-keyframe runs (a run trained on "
                        "target='expert_action' replays actions at 1 / action_scale)")
    p.add_argument('--out-dir', default=None, help='default: the data root')
    args = p.parse_args(argv)
    from oneformer3d.robot.sim.metaworld_env import parse_seeds
    try:
        args.seed_list = parse_seeds(args.eval_seeds)
    except ValueError as err:
        p.error(str(err))
    args.run_dirs = {}
    for spec in args.runs:
        name, _, folder = spec.partition('=')
        if name not in INPUTS or not folder:
            p.error(f'--runs takes INPUT=WORK_DIR with INPUT one of {INPUTS}, got {spec!r}')
        args.run_dirs[name] = folder
    if not args.run_dirs and not args.expert:
        p.error('nothing to evaluate: give --runs and/or --expert')
    return args


def evaluate(args) -> list:
    """Roll out every requested input; returns one summary dict per input."""
    import oneformer3d.robot.sim  # noqa: F401  (OpenGL backend before mujoco loads)
    import oneformer3d.robot  # noqa: F401  (registers the robot stack)
    import numpy as np
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from oneformer3d.robot.preprocessing.prepare_settings import load_prepare_args
    from oneformer3d.robot.sim.closed_loop import (ExpertPolicy, SimPolicy, rollout,
                                                   wilson_interval)
    from oneformer3d.robot.sim.metaworld_env import MetaWorldTask, check_task
    from PIL import Image
    init_default_scope('oneformer3d')
    torch.set_num_threads(1)
    warnings.filterwarnings('ignore', message='Constant.*too high')
    try:
        check_task(args.task)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    overlap = sorted(set(args.seed_list) & demo_seeds(args.data_root, args.task))
    if overlap:
        raise SystemExit(f'evaluation seeds {overlap[:10]}{" ..." if len(overlap) > 10 else ""} '
                         f'are seeds of the demos prepared in {args.data_root} (the layouts the '
                         f'policies trained on); choose seeds outside them')
    prep = load_prepare_args(args.data_root)
    frame = sorted(glob.glob(osp.join(args.data_root, 'rgb_dataset', 'RGB', args.task, '*',
                                      'step_0000.png')))
    if not frame:
        raise SystemExit(f'{args.data_root}: no prepared frames of task {args.task!r}')
    size = Image.open(frame[0]).size[1]
    cameras = list(dict.fromkeys([prep['anchor']] + list(prep['cameras'])))
    sim = MetaWorldTask(args.task, cameras=cameras, image_size=size, max_steps=args.max_steps)
    out_dir = args.out_dir or args.data_root
    os.makedirs(out_dir, exist_ok=True)
    policies = []
    if args.expert:
        policies.append(('expert', lambda: ExpertPolicy(sim)))
    for name, folder in args.run_dirs.items():
        cfg_file, ckpt = run_files(folder)

        def build(name=name, cfg_file=cfg_file, ckpt=ckpt):
            cfg = Config.fromfile(cfg_file)
            task = cfg.train_dataloader.dataset.get('task')
            if task != args.task:
                raise SystemExit(f'{cfg_file}: trained on task {task!r}, not {args.task!r}')
            return SimPolicy(name, cfg, ckpt, args.data_root)
        policies.append((name, build))
    summaries = []
    log = open(osp.join(out_dir, f'closed_loop_{args.task}.jsonl'), 'a')
    try:
        for name, build in policies:
            policy = build()
            gain = policy.gain or args.gain
            if policy.gain and abs(gain * sim.action_scale - 1) > 1e-6:
                raise SystemExit(f'{name}: trained on actions of scale {1 / gain} m, the '
                                 f'simulator moves {sim.action_scale} m per unit action')
            results, shown = [], {}
            for seed in args.seed_list:
                r = rollout(sim, policy, seed, gain=gain, record_camera=prep['anchor'])
                key = 'success' if r['success'] else 'failure'
                if key not in shown:
                    shown[key] = r
                r = {k: v for k, v in r.items() if k != 'frames'}
                results.append(r)
                log.write(json.dumps(dict(task=args.task, input=name, **r)) + '\n')
                log.flush()
            k, n = sum(r['success'] for r in results), len(results)
            lo, hi = wilson_interval(k, n)
            s = dict(task=args.task, input=name, success=k, trials=n, rate=k / n,
                     ci95=(lo, hi), mean_steps=float(np.mean([r['steps'] for r in results])),
                     policy_ms=float(np.mean([r['policy_ms'] for r in results])),
                     empty_cloud_steps=int(sum(r['empty_cloud_steps'] for r in results)),
                     gain=gain)
            summaries.append(s)
            print(f"task={args.task} input={name} success={k}/{n} ci95=[{lo:.2f},{hi:.2f}] "
                  f"mean_steps={s['mean_steps']:.1f} policy_ms={s['policy_ms']:.2f} "
                  f"empty_cloud_steps={s['empty_cloud_steps']}"
                  f"{'' if name == 'expert' else f' gain={gain:g}'}", flush=True)
            save_strip([(key, shown[key]) for key in ('success', 'failure') if key in shown],
                       osp.join(out_dir, f'strip_{args.task}_{name}.png'),
                       f'{args.task} {name}')
    finally:
        log.close()
        sim.close()
    return summaries


def main(argv=None):
    t0 = time.time()
    evaluate(parse_args(argv))
    print(f'time_s={time.time() - t0:.1f}')
    return 0


if __name__ == '__main__':
    sys.path.insert(0, REPO)
    sys.exit(main())
