"""Repeat a training/evaluation command over seeds and report mean and range per metric.

    python tools/repeat_runs.py --seeds 0 1 2 --work-dir work_dirs/repeat_overfit_00 -- \\
        python tools/overfit.py --data ../shared/data/scannet/scans --scene scene0000_00

Each run gets ``--seed S --work-dir <work-dir>/seed_S`` appended (``tools/train.py`` and
``tools/overfit.py`` take both) and must leave a ``metrics.csv`` in its work dir (the metrics
of ``InstanceSegMetric``); the last row of each is collected. Prints a markdown table (one row
per metric: mean, min, max, then each seed's value) and writes it with the raw numbers to
``<work-dir>/repeat_summary.{md,json}``. CPU training is not bitwise repeatable with more than
one OpenMP thread, so tables made on 2 threads report this mean and range.

Exit status: the first failing run's, with its log tail.
"""
import argparse
import csv
import json
import os
import os.path as osp
import subprocess
import sys
import time

import numpy as np

DEFAULT_METRICS = ('ca_ap', 'ca_ap50', 'ca_ap25', 'mCov', 'mWCov', 'mPrec', 'mRec', 'ap', 'ap50',
                   'ap25', 'miou')


def last_row(path: str) -> dict:
    with open(path, newline='') as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f'{path}: no metrics row')
    return rows[-1]


def summarize(per_seed: dict, metrics=DEFAULT_METRICS) -> tuple:
    """``(markdown table, {metric: {mean, min, max, values}})`` over the seeds' rows."""
    seeds = sorted(per_seed)
    stats, lines = {}, []
    header = '| metric | mean | min | max | ' + ' | '.join(f'seed {s}' for s in seeds) + ' |'
    lines += [header, '|' + '---|' * (4 + len(seeds))]
    for m in metrics:
        vals = [per_seed[s].get(m) for s in seeds]
        if any(v in (None, '') for v in vals):
            continue
        vals = [float(v) for v in vals]
        stats[m] = dict(mean=float(np.mean(vals)), min=min(vals), max=max(vals), values=vals)
        lines.append(f'| {m} | {np.mean(vals):.3f} | {min(vals):.3f} | {max(vals):.3f} | '
                     + ' | '.join(f'{v:.3f}' for v in vals) + ' |')
    return '\n'.join(lines), stats


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--work-dir', required=True)
    p.add_argument('--metrics', nargs='*', default=list(DEFAULT_METRICS))
    p.add_argument('command', nargs=argparse.REMAINDER,
                   help='the command after "--" (seed and work dir are appended)')
    args = p.parse_args(argv)
    cmd = args.command[1:] if args.command[:1] == ['--'] else args.command
    if not cmd:
        p.error('give the command to repeat after --')
    os.makedirs(args.work_dir, exist_ok=True)
    per_seed, walls = {}, {}
    for seed in args.seeds:
        wd = osp.join(args.work_dir, f'seed_{seed}')
        t0 = time.time()
        print(f'[repeat_runs] seed {seed}: {" ".join(cmd)} --seed {seed} --work-dir {wd}',
              flush=True)
        res = subprocess.run(cmd + ['--seed', str(seed), '--work-dir', wd],
                             capture_output=True, text=True)
        walls[seed] = time.time() - t0
        with open(osp.join(args.work_dir, f'seed_{seed}.log'), 'w') as fh:
            fh.write(res.stdout + res.stderr)
        if res.returncode != 0:
            print((res.stdout + res.stderr)[-3000:], file=sys.stderr)
            print(f'[repeat_runs] seed {seed} failed (exit {res.returncode})', file=sys.stderr)
            return res.returncode
        per_seed[seed] = last_row(osp.join(wd, 'metrics.csv'))
        print(f'[repeat_runs] seed {seed}: {walls[seed]:.0f} s', flush=True)
    table, stats = summarize(per_seed, args.metrics)
    table += ('\n\nwall time per run: ' + ', '.join(f'seed {s} {w:.0f} s'
                                                  for s, w in walls.items()))
    print(table)
    with open(osp.join(args.work_dir, 'repeat_summary.md'), 'w') as fh:
        fh.write(f'command: {" ".join(cmd)}\n\n{table}\n')
    with open(osp.join(args.work_dir, 'repeat_summary.json'), 'w') as fh:
        json.dump(dict(command=cmd, seeds=args.seeds, stats=stats, wall_s=walls), fh, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
