"""Stage 2: train and test the same ActionHead on several inputs, on one split by episode.

    python tools/robot/compare_action_inputs.py --data-root data/rlbench
    python tools/robot/compare_action_inputs.py --data-root data/rlbench --inputs pc proprio \\
        --train-episodes episode0 episode1 episode2 --test-episodes episode7 --iters 300

Inputs (``configs/robot/action_head_rlbench_<input>.py``, one base, same head, schedule
and seed): ``pc`` (the point files' xyz + teacher ``pc_feat``), ``rgb_aligned`` (the packs
through the frozen adapters of the stage-1 point<->patch model — trained here first on the
training episodes unless ``--aligner-checkpoint`` is given), ``rgb_raw`` (the same packs
through fresh adapters: the control), ``proprio`` (no visual input: the floor). The episode
flags override the configs' split; ``--encoders name=channels`` the packs used.

Prints one line per input (``input=<name> trans_err_cm=<x> rot_err_deg=<x> gripper_acc=<x>
const_trans_err_cm=<x>``), then one table with the keyframe-only errors and train time; writes
``<work-root>/compare_actions.{md,csv}`` and ``compare_actions.png`` (predicted vs true
next-keyframe positions of the first held-out episode, top-down x-y and side x-z views).
"""
import argparse
import csv
import os
import os.path as osp
import sys
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
INPUTS = ('pc', 'rgb_aligned', 'rgb_raw', 'proprio')
COLUMNS = ('trans_err_cm', 'rot_err_deg', 'gripper_acc', 'const_trans_err_cm',
           'kf_trans_err_cm', 'kf_rot_err_deg', 'kf_gripper_acc')


def parse_args(argv=None):
    from oneformer3d.robot.preprocessing.action_targets import TARGET_RULES
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data-root', default='data/rlbench')
    p.add_argument('--task', help='task folder of the data root (default: the config\'s)')
    p.add_argument('--inputs', nargs='+', choices=INPUTS, default=list(INPUTS))
    p.add_argument('--train-episodes', nargs='+')
    p.add_argument('--test-episodes', nargs='+')
    p.add_argument('--encoders', nargs='+', help='pack name=channels (default: the config)')
    p.add_argument('--aligner-checkpoint', help='stage-1 RGBPointAligner checkpoint')
    p.add_argument('--aligner-iters', type=int, help='stage-1 iterations when trained here')
    p.add_argument('--iters', type=int, help='action-head iterations (default: the config)')
    p.add_argument('--target', choices=TARGET_RULES,
                   help="the heads' action-target rule (default: the config's, next_keyframe; "
                        "oneformer3d/robot/preprocessing/action_targets.py)")
    p.add_argument('--keypoints', type=int,
                   help='M: give every head the SpatialSoftmaxKeypoints slot with M maps '
                        '(default: the configs, none)')
    p.add_argument('--proprio-noise', type=float,
                   help='std (m): ProprioNoise on the hand position in every head\'s '
                        'training pipeline (default: none)')
    p.add_argument('--pc-norm', choices=['BN1d'],
                   help="norm on the pc route's input channels, PointTokenEncoder.norm_cfg "
                        "(default: the config's, none)")
    p.add_argument('--work-root', default='work_dirs/compare_actions')
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args(argv)


def set_data(cfg, args, train_eps, test_eps, encoders) -> None:
    for key, eps in (('train_dataloader', train_eps), ('val_dataloader', test_eps),
                     ('test_dataloader', test_eps)):
        ds = cfg[key].dataset
        ds.data_root = args.data_root
        ds.episodes = list(eps)
        if args.task:
            ds.task = args.task
        ds.encoders = dict(encoders)      # assigned, not merged
        if 'const_episodes' in ds:
            ds.const_episodes = list(train_eps)


def schedule(cfg, iters) -> None:
    if iters:
        cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = iters
        cfg.default_hooks.checkpoint.interval = iters
        if cfg.param_scheduler.get('T_max'):
            cfg.param_scheduler.T_max = iters


def train_aligner(args, train_eps, test_eps, encoders) -> str:
    """Stage 1 (point<->patch) on the training episodes; returns its last checkpoint."""
    from mmengine.config import Config
    from oneformer3d.engine import Runner
    cfg = Config.fromfile(osp.join(REPO, 'configs/robot/align_point_patch_rlbench.py'))
    set_data(cfg, args, train_eps, test_eps, encoders)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.step_range = None
    cfg.model.encoders = dict(encoders)
    schedule(cfg, args.aligner_iters)
    cfg.work_dir = osp.join(args.work_root, 'align_point_patch_rlbench')
    cfg.randomness = dict(seed=args.seed)
    runner = Runner.from_cfg(cfg)
    runner.train()
    with open(osp.join(cfg.work_dir, 'last_checkpoint')) as fh:
        return fh.read().strip()


def run_input(name, args, train_eps, test_eps, encoders, aligner_ckpt) -> tuple:
    """Train and test one input; ``(metrics, seconds, predictions)``."""
    from mmengine.config import Config
    from oneformer3d.engine import Runner
    cfg = Config.fromfile(osp.join(REPO, f'configs/robot/action_head_rlbench_{name}.py'))
    set_data(cfg, args, train_eps, test_eps, encoders)
    enc = cfg.model.get('token_encoder')
    if enc and 'encoders' in enc:
        enc.encoders = dict(encoders)
    if name == 'rgb_aligned':
        enc.checkpoint = aligner_ckpt
    if args.target:
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            cfg[key].dataset.target = args.target
    if args.proprio_noise:
        cfg.train_dataloader.dataset.pipeline = [dict(type='ProprioNoise',
                                                      std=args.proprio_noise)]
    if args.pc_norm and name == 'pc':
        cfg.model.token_encoder.norm_cfg = dict(type=args.pc_norm)
    if args.keypoints:
        cfg.model.head.keypoints = dict(type='SpatialSoftmaxKeypoints',
                                        num_keypoints=args.keypoints)
    schedule(cfg, args.iters)
    cfg.work_dir = osp.join(args.work_root, f'action_head_rlbench_{name}')
    cfg.randomness = dict(seed=args.seed)
    runner = Runner.from_cfg(cfg)
    t0 = time.time()
    runner.train()
    seconds = time.time() - t0
    metrics = runner.test()
    model = runner.model.eval()
    preds = []
    for batch in runner.test_dataloader:
        preds += model.test_step(batch)
    return metrics, seconds, preds


def plot(all_preds: dict, episode: str, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    first = next(iter(all_preds.values()))
    true = np.stack([p['target_trans'].numpy() for p in first if p['episode'] == episode])
    for ax, (i, j, title) in zip(axes, ((0, 1, 'top-down (x, y)'), (0, 2, 'side (x, z)'))):
        kf = np.unique(true, axis=0)          # the episode's keyframe positions
        ax.scatter(kf[:, i], kf[:, j], s=150, marker='X', c='k', zorder=3,
                   label='true next keyframes')
        for name, preds in all_preds.items():
            xyz = np.stack([p['pred_trans'].numpy() for p in preds if p['episode'] == episode])
            ax.plot(xyz[:, i], xyz[:, j], '.-', ms=3, lw=0.8, label=name)
        ax.set_title(f'{episode}: {title}')
        ax.set_xlabel('xyz'[i] + ' (m)')
        ax.set_ylabel('xyz'[j] + ' (m)')
        ax.axis('equal')
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config, DictAction
    from mmengine.registry import init_default_scope
    import oneformer3d.robot  # noqa: F401  (registers the robot stack)
    init_default_scope('oneformer3d')
    base = Config.fromfile(osp.join(REPO, 'configs/_base_/datasets/rlbench_action.py'))
    train_eps = args.train_episodes or base.train_episodes
    test_eps = args.test_episodes or base.test_episodes
    if set(train_eps) & set(test_eps):
        raise SystemExit(f'episodes in both splits: {sorted(set(train_eps) & set(test_eps))}')
    encoders = ({k: DictAction._parse_iterable(v) for k, v in
                 (e.split('=', 1) for e in args.encoders)} if args.encoders
                else dict(base.encoders))
    os.makedirs(args.work_root, exist_ok=True)
    aligner = args.aligner_checkpoint
    if 'rgb_aligned' in args.inputs and not aligner:
        aligner = train_aligner(args, train_eps, test_eps, encoders)
    rows, all_preds = [], {}
    for name in args.inputs:
        metrics, seconds, preds = run_input(name, args, train_eps, test_eps, encoders, aligner)
        all_preds[name] = preds
        row = dict(input=name, **{c: metrics.get(c, float('nan')) for c in COLUMNS},
                   train_s=seconds, steps=len(preds))
        rows.append(row)
        print(f"input={name} trans_err_cm={row['trans_err_cm']:.3f} "
              f"rot_err_deg={row['rot_err_deg']:.3f} gripper_acc={row['gripper_acc']:.3f} "
              f"const_trans_err_cm={row['const_trans_err_cm']:.3f}", flush=True)
    head = ('| input | trans err (cm) | rot err (deg) | gripper acc | constant trans err (cm) | '
            'keyframes: trans (cm) | rot (deg) | gripper | train (s) |')
    lines = [head, '|' + '---|' * 9]
    for r in rows:
        lines.append(f"| {r['input']} | " + ' | '.join(f'{r[c]:.3f}' for c in COLUMNS) +
                     f" | {r['train_s']:.0f} |")
    table = '\n'.join(lines)
    print(f'train {train_eps} -> test {test_eps}\n{table}')
    with open(osp.join(args.work_root, 'compare_actions.md'), 'w') as fh:
        fh.write(f'train {train_eps} -> test {test_eps}\n\n{table}\n')
    with open(osp.join(args.work_root, 'compare_actions.csv'), 'w', newline='') as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    png = osp.join(args.work_root, 'compare_actions.png')
    plot(all_preds, test_eps[0], png)
    print(f'written: {osp.join(args.work_root, "compare_actions")}.{{md,csv,png}}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
