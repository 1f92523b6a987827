"""Run the fusion ablation chain and print one table (route x SV/MV).

    python tools/run_chain.py                       # the shared sample, CPU scale
    python tools/run_chain.py --suffix scannet200   # the full configs (GPU; epoch schedules)

Stages, in dependency order (configs ``configs/esam/ESAM_{sv,online}_{route}_{suffix}.py``):

1. ``3d``: SV train -> test; MV train (``load_from`` the SV checkpoint) -> test;
2. ``3dtsa``: the same with the Tiny-SA neck;
3. ``bifusion``: SV train with ``PartialLoadHook`` taking the U-Net of the 3D+Tiny-SA MV
   checkpoint -> test; MV train (``load_from`` the BiFusion SV checkpoint, the hook taking
   U-Net, memory and merge head of the 3D+Tiny-SA MV checkpoint) -> test.

Every stage runs ``tools/train.py`` / ``tools/test.py`` with ``--work-dir
<work-root>/<config name>``; the checkpoints each stage needs are passed explicitly
(``load_from=...``, ``custom_hooks.<i>.checkpoint=...``), read from the previous stage's
``last_checkpoint``. With ``--prepare`` (sample only) the SV and MV sample infos with feature
paths and their RGB-patch stores are created first. ``--sv-iters`` / ``--mv-iters`` shorten
iteration-based (sample) schedules. A finished stage (its test row present) is skipped unless
``--overwrite``. The table (class-agnostic AP / AP50 / AP25, mCov, mRec, config, commit) is
printed and written to ``<work-root>/chain_table.{md,json}``; each stage's log is
``<work-dir>/chain_{train,test}.log``.

Exit status: the first failing stage's (its log tail is printed).
"""
import argparse
import csv
import json
import os
import os.path as osp
import subprocess
import sys
import time

from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
ROUTES = ('3d', '3dtsa', 'bifusion')
METRICS = ('ca_ap', 'ca_ap50', 'ca_ap25', 'mCov', 'mRec')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--suffix', default='scannet_sample',
                   help='config family: scannet_sample | scannet | scannet200')
    p.add_argument('--routes', nargs='+', default=list(ROUTES), choices=ROUTES)
    p.add_argument('--work-root', default='work_dirs/chain')
    p.add_argument('--sv-iters', type=int, help='SV iterations (iteration-based configs)')
    p.add_argument('--mv-iters', type=int, help='MV iterations (iteration-based configs)')
    p.add_argument('--prepare', action='store_true',
                   help='create the sample infos and RGB-patch stores first')
    p.add_argument('--data', default=os.environ.get('ONEFORMER3D_DATA',
                                                    osp.join('..', 'shared', 'data')))
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--deterministic', action='store_true')
    p.add_argument('--overwrite', action='store_true')
    p.add_argument('--dry-run', action='store_true', help='print the commands only')
    return p.parse_args(argv)


def config_path(mode: str, route: str, suffix: str) -> str:
    return osp.join('configs', 'esam', f'ESAM_{mode}_{route}_{suffix}.py')


def stage_plan(args) -> list:
    """``[(key, config, needs)]``: ``needs`` maps ``'load_from'`` / ``'hook'`` to the key of
    the stage whose checkpoint it takes."""
    plan = []
    for route in args.routes:
        sv, mv = f'sv_{route}', f'online_{route}'
        sv_needs = {'hook': 'online_3dtsa'} if route == 'bifusion' else {}
        mv_needs = dict(load_from=sv, **sv_needs)
        plan.append((sv, config_path('sv', route, args.suffix), sv_needs))
        plan.append((mv, config_path('online', route, args.suffix), mv_needs))
    return plan


def hook_index(cfg: Config) -> int:
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        if hook.get('type') == 'PartialLoadHook':
            return i
    raise ValueError(f'{cfg.filename}: no PartialLoadHook in custom_hooks')


def last_checkpoint(work_dir: str, dry_run: bool) -> str:
    path = osp.join(work_dir, 'last_checkpoint')
    if dry_run and not osp.isfile(path):
        return osp.join(work_dir, '<last checkpoint>')
    with open(path) as fh:
        return fh.read().strip()


def run(cmd, log, dry_run):
    print('$ ' + ' '.join(cmd), flush=True)
    if dry_run:
        return
    os.makedirs(osp.dirname(log), exist_ok=True)
    with open(log, 'w') as fh:
        res = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)
    if res.returncode:
        with open(log) as fh:
            sys.stderr.write(fh.read()[-4000:])
        sys.exit(res.returncode)


def prepare(args) -> None:
    py = sys.executable
    for kind, out in (('scannet_sv', 'data/scannet_sample_sv'),
                      ('scannet_mv', 'data/scannet_sample_mv')):
        infos = osp.join(out, f'{kind}_oneformer3d_infos_train_clip.pkl')
        if not osp.isfile(osp.join(REPO, infos)) or args.overwrite:
            run([py, 'tools/create_data.py', kind, '--root-path',
                 osp.join(args.data, 'scannet'), '--out-dir', out, '--pack-clip'],
                osp.join(args.work_root, f'prepare_{kind}.log'), args.dry_run)
        run([py, 'tools/extract_2d_features.py', '--infos', infos, '--encoder',
             'RGBPatchEncoder'], osp.join(args.work_root, f'extract_{kind}.log'), args.dry_run)


def main(argv=None):
    args = parse_args(argv)
    if args.prepare:
        prepare(args)
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO,
                            capture_output=True, text=True).stdout.strip() or 'unknown'
    py, dirs, rows = sys.executable, {}, []
    for key, config, needs in stage_plan(args):
        name = osp.splitext(osp.basename(config))[0]
        work_dir = dirs[key] = osp.join(args.work_root, name)
        cfg = Config.fromfile(osp.join(REPO, config))
        opts = []
        iters = args.sv_iters if key.startswith('sv') else args.mv_iters
        if iters:
            opts += [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
                     f'param_scheduler.end={iters}', f'default_hooks.checkpoint.interval={iters}']
        if 'load_from' in needs:
            opts.append(f'load_from={last_checkpoint(dirs[needs["load_from"]], args.dry_run)}')
        if 'hook' in needs:
            opts.append(f'custom_hooks.{hook_index(cfg)}.checkpoint='
                        f'{last_checkpoint(dirs[needs["hook"]], args.dry_run)}')
        common = ['--seed', str(args.seed)] + (['--deterministic'] if args.deterministic else [])
        metrics_csv = osp.join(REPO, work_dir, 'metrics.csv')
        done = osp.isfile(metrics_csv) and osp.isfile(osp.join(REPO, work_dir, 'last_checkpoint'))
        t0 = time.time()
        if not done or args.overwrite:
            run([py, 'tools/train.py', config, '--work-dir', work_dir, *common] +
                (['--cfg-options', *opts] if opts else []),
                osp.join(work_dir, 'chain_train.log'), args.dry_run)
            run([py, 'tools/test.py', config, last_checkpoint(work_dir, args.dry_run),
                 '--work-dir', work_dir, *common], osp.join(work_dir, 'chain_test.log'),
                args.dry_run)
        if args.dry_run:
            continue
        with open(metrics_csv, newline='') as fh:
            row = list(csv.DictReader(fh))[-1]
        rows.append(dict(route=key.split('_', 1)[1], mode='SV' if key.startswith('sv') else 'MV',
                         **{m: float(row[m]) for m in METRICS}, config=config, commit=commit,
                         seconds=round(time.time() - t0)))
    if rows:
        table = write_table(rows, args.work_root)
        print(table)


def write_table(rows: list, work_root: str) -> str:
    head = '| route | SV/MV | AP | AP50 | AP25 | mCov | mRec | config | commit |'
    lines = [head, '|' + '---|' * 9]
    for r in rows:
        lines.append(f"| {r['route']} | {r['mode']} | " +
                     ' | '.join(f'{r[m]:.3f}' for m in METRICS) +
                     f" | {osp.basename(r['config'])} | {r['commit']} |")
    table = '\n'.join(lines)
    os.makedirs(osp.join(REPO, work_root), exist_ok=True)
    with open(osp.join(REPO, work_root, 'chain_table.md'), 'w') as fh:
        fh.write(table + '\n')
    with open(osp.join(REPO, work_root, 'chain_table.json'), 'w') as fh:
        json.dump(rows, fh, indent=1)
    return table


if __name__ == '__main__':
    main()
