"""One command for the fusion ablation table: every route from the same 3D initialisation.

    python tools/ablation.py --preset dino --prepare                 # shared sample, CPU
    python tools/ablation.py --preset all --scale full               # ScanNet200 (GPU)
    python tools/ablation.py --preset clip_fusion --scale full --suffix scannet   # ScanNet-20

Presets (rows, in dependency order; configs ``configs/{esam,dino}/ESAM_{sv,online}_<route>_
<suffix>.py``, suffix ``scannet_sample`` for ``--scale sample``, ``scannet200`` for ``full``):

* ``clip_fusion``: 3D, 3D+Tiny-SA, BiFusion, SV and MV (the fusion-core chain): each MV row
  starts from its SV checkpoint (``load_from``); both BiFusion rows take the U-Net (and, MV,
  memory and merge head) of the 3D+Tiny-SA MV checkpoint through ``PartialLoadHook``.
* ``dino``: 3D (the initialisation), 3D fine-tuned (the control: the same checkpoint trained
  on the DINO schedule), DINO-BiFusion, DINO-FPN-inject, DINO-early: every fine-tuning row
  ``load_from`` the 3D SV checkpoint of the first row (DINO-BiFusion also puts its U-Net into
  ``bi_encoder.backbone3d`` with its ``PartialLoadHook``), on one schedule.
* ``all``: both.

Each row runs ``tools/train.py`` then ``tools/test.py`` on the last checkpoint, in
``<work-root>/<config name>``; the checkpoints a row needs are passed explicitly
(``--cfg-options load_from=... custom_hooks.<i>.checkpoint=...``). ``--sv-iters`` /
``--mv-iters`` / ``--ft-iters`` shorten iteration-based schedules (SV from scratch, MV, DINO
fine-tuning). A finished row (``ablation_row.json`` in its work dir) is skipped, so an
interrupted run goes on where it stopped; ``--force`` re-runs the selected rows.

Table: route, SV/MV, class-agnostic AP / AP50 / AP25, mCov, mRec, class-aware AP / AP50 / AP25
(where the model predicts classes; the ESAM SV/MV configs are class-agnostic: "-"), train
s/iter (mean logged iteration time, first log entry left out), parameters trainable / total,
config, commit. Written to ``<work-root>/ablation.{md,csv}`` and ``ablation.png`` (AP bars).
Exit status: the first failing stage's, with its log tail.
"""
import argparse
import csv
import glob
import json
import os
import os.path as osp
import subprocess
import sys
from collections import namedtuple

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
Route = namedtuple('Route', 'label mode folder config schedule needs')
ROUTES = {
    'sv_3d': Route('3D', 'SV', 'esam', 'ESAM_sv_3d', 'sv', {}),
    'online_3d': Route('3D', 'MV', 'esam', 'ESAM_online_3d', 'mv', {'load_from': 'sv_3d'}),
    'sv_3dtsa': Route('3D+Tiny-SA', 'SV', 'esam', 'ESAM_sv_3dtsa', 'sv', {}),
    'online_3dtsa': Route('3D+Tiny-SA', 'MV', 'esam', 'ESAM_online_3dtsa', 'mv',
                          {'load_from': 'sv_3dtsa'}),
    'sv_bifusion': Route('BiFusion', 'SV', 'esam', 'ESAM_sv_bifusion', 'sv',
                         {'hook': 'online_3dtsa'}),
    'online_bifusion': Route('BiFusion', 'MV', 'esam', 'ESAM_online_bifusion', 'mv',
                             {'load_from': 'sv_bifusion', 'hook': 'online_3dtsa'}),
    'sv_3d_ft': Route('3D fine-tuned', 'SV', 'dino', 'ESAM_sv_3d_finetune', 'ft',
                      {'load_from': 'sv_3d'}),
    'sv_dino_bifusion': Route('DINO-BiFusion', 'SV', 'dino', 'ESAM_sv_dino_bifusion', 'ft',
                              {'load_from': 'sv_3d', 'hook': 'sv_3d'}),
    'sv_dino_fpn_inject': Route('DINO-FPN-inject', 'SV', 'dino', 'ESAM_sv_dino_fpn_inject',
                                'ft', {'load_from': 'sv_3d'}),
    'sv_dino_early': Route('DINO-early', 'SV', 'dino', 'ESAM_sv_dino_early', 'ft',
                           {'load_from': 'sv_3d'}),
}
PRESETS = {
    'clip_fusion': ['sv_3d', 'online_3d', 'sv_3dtsa', 'online_3dtsa', 'sv_bifusion',
                    'online_bifusion'],
    'dino': ['sv_3d', 'sv_3d_ft', 'sv_dino_bifusion', 'sv_dino_fpn_inject', 'sv_dino_early'],
}
PRESETS['all'] = list(dict.fromkeys(PRESETS['clip_fusion'] + PRESETS['dino']))
SCALES = {'sample': 'scannet_sample', 'full': 'scannet200'}
AGNOSTIC = ('ca_ap', 'ca_ap50', 'ca_ap25', 'mCov', 'mRec')
AWARE = ('ap', 'ap50', 'ap25')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--preset', choices=list(PRESETS), default='all')
    p.add_argument('--rows', nargs='+', choices=list(ROUTES),
                   help="only these rows of the preset (and the rows they need)")
    p.add_argument('--scale', choices=list(SCALES), default='sample')
    p.add_argument('--suffix', help='config family (default: scannet_sample for sample, '
                                    'scannet200 for full; e.g. scannet)')
    p.add_argument('--work-root', default='work_dirs/ablation')
    p.add_argument('--sv-iters', type=int, help='iterations of SV rows trained from scratch')
    p.add_argument('--mv-iters', type=int, help='iterations of MV rows')
    p.add_argument('--ft-iters', type=int, help='iterations of the DINO fine-tuning rows')
    p.add_argument('--prepare', action='store_true',
                   help='sample: create the SV/MV sample infos and their RGB-patch stores')
    p.add_argument('--data', default=os.environ.get('ONEFORMER3D_DATA',
                                                    osp.join('..', 'shared', 'data')))
    p.add_argument('--cfg-options', nargs='+', default=[],
                   help='key=value overrides given to every row (train and test; they win '
                        'over the tool\'s schedule options)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--deterministic', action='store_true')
    p.add_argument('--force', action='store_true', help='re-run finished rows')
    p.add_argument('--dry-run', action='store_true', help='print the commands only')
    return p.parse_args(argv)


def plan(preset: str, rows=None) -> list:
    """Row keys to run, dependencies first (a requested row's needs are added)."""
    wanted = [k for k in PRESETS[preset] if rows is None or k in rows]
    if rows:
        missing = set(rows) - set(PRESETS[preset])
        if missing:
            raise SystemExit(f'--rows {sorted(missing)}: not in preset {preset}')
    order = []

    def visit(key):
        for dep in ROUTES[key].needs.values():
            visit(dep)
        if key not in order:
            order.append(key)
    for key in wanted:
        visit(key)
    return order


def config_of(key: str, suffix: str) -> str:
    r = ROUTES[key]
    return osp.join('configs', r.folder, f'{r.config}_{suffix}.py')


def run(cmd, log, dry_run):
    print('$ ' + ' '.join(cmd), flush=True)
    if dry_run:
        return
    os.makedirs(osp.dirname(osp.join(REPO, log)), exist_ok=True)
    with open(osp.join(REPO, log), 'w') as fh:
        res = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)
    if res.returncode:
        with open(osp.join(REPO, log)) as fh:
            sys.stderr.write(fh.read()[-4000:])
        sys.stderr.write(f'\nablation: {" ".join(cmd[1:3])} failed (log: {log})\n')
        sys.exit(res.returncode)


def last_checkpoint(work_dir: str, dry_run: bool) -> str:
    path = osp.join(REPO, work_dir, 'last_checkpoint')
    if dry_run and not osp.isfile(path):
        return osp.join(work_dir, '<last checkpoint>')
    with open(path) as fh:
        return fh.read().strip()


def schedule_options(cfg, iters) -> list:
    """Overrides that shorten an iteration-based schedule to ``iters``."""
    if cfg.train_cfg.get('type') != 'IterBasedTrainLoop':
        raise SystemExit(f'{cfg.filename}: epoch-based schedule; --*-iters apply to '
                         f'iteration-based (sample) configs')
    opts = [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={iters}',
            f'default_hooks.logger.interval={max(1, min(10, iters // 2))}']
    sched = cfg.param_scheduler
    if isinstance(sched, dict):
        opts.append(f'param_scheduler.end={iters}')
    return opts


def hook_index(cfg) -> int:
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        if hook.get('type') == 'PartialLoadHook':
            return i
    raise SystemExit(f'{cfg.filename}: no PartialLoadHook in custom_hooks')


def train_seconds_per_iter(run_dirs: list) -> float:
    """Mean logged ``time`` of a training run's ``vis_data/scalars.json`` (first entry, the
    warm-up, left out when there are more)."""
    times = []
    for d in run_dirs:
        path = osp.join(d, 'vis_data', 'scalars.json')
        if osp.isfile(path):
            with open(path) as fh:
                times += [json.loads(line)['time'] for line in fh
                          if '"loss"' in line and '"time"' in line]
    times = times[1:] if len(times) > 1 else times
    return sum(times) / len(times) if times else float('nan')


def count_parameters(config: str, options: dict) -> tuple:
    """``(trainable, total)`` parameters of the model the row's config builds."""
    from mmengine.registry import init_default_scope
    import oneformer3d  # noqa: F401
    from oneformer3d.registry import MODELS
    from oneformer3d.utils.config import load_config
    init_default_scope('oneformer3d')
    model = MODELS.build(load_config(osp.join(REPO, config), options).model)
    params = list(model.parameters())
    return (sum(p.numel() for p in params if p.requires_grad),
            sum(p.numel() for p in params))


def run_row(key, args, suffix, dirs, commit) -> dict:
    from mmengine.config import Config, DictAction
    route, config = ROUTES[key], config_of(key, suffix)
    work_dir = dirs[key] = osp.join(args.work_root, osp.splitext(osp.basename(config))[0])
    row_file = osp.join(REPO, work_dir, 'ablation_row.json')
    if osp.isfile(row_file) and not args.force and not args.dry_run:
        print(f'{key}: finished, skipped ({row_file}; --force re-runs)', flush=True)
        with open(row_file) as fh:
            return json.load(fh)
    cfg = Config.fromfile(osp.join(REPO, config))
    opts = []
    iters = getattr(args, f'{route.schedule}_iters')
    if iters:
        opts += schedule_options(cfg, iters)
    if 'load_from' in route.needs:
        opts.append(f'load_from={last_checkpoint(dirs[route.needs["load_from"]], args.dry_run)}')
    if 'hook' in route.needs:
        opts.append(f'custom_hooks.{hook_index(cfg)}.checkpoint='
                    f'{last_checkpoint(dirs[route.needs["hook"]], args.dry_run)}')
    opts += args.cfg_options                  # the user's overrides come last: they win
    common = ['--seed', str(args.seed)] + (['--deterministic'] if args.deterministic else [])
    py = sys.executable
    before = set(glob.glob(osp.join(REPO, work_dir, '2*')))
    run([py, 'tools/train.py', config, '--work-dir', work_dir, *common, '--cfg-options', *opts],
        osp.join(work_dir, 'ablation_train.log'), args.dry_run)
    train_runs = sorted(set(glob.glob(osp.join(REPO, work_dir, '2*'))) - before)
    test_opts = list(args.cfg_options)
    run([py, 'tools/test.py', config, last_checkpoint(work_dir, args.dry_run), '--work-dir',
         work_dir, *common] + (['--cfg-options', *test_opts] if test_opts else []),
        osp.join(work_dir, 'ablation_test.log'), args.dry_run)
    if args.dry_run:
        return {}
    with open(osp.join(REPO, work_dir, 'metrics.csv'), newline='') as fh:
        metrics = list(csv.DictReader(fh))[-1]
    options = {k: DictAction._parse_iterable(v)
               for k, v in (o.split('=', 1) for o in args.cfg_options)}
    trainable, total = count_parameters(config, options)
    row = dict(key=key, route=route.label, mode=route.mode,
               **{m: float(metrics[m]) for m in AGNOSTIC},
               **{m: float(metrics[m]) if metrics.get(m) else None for m in AWARE},
               s_per_iter=train_seconds_per_iter(train_runs), params_trainable=trainable,
               params_total=total, config=config, commit=commit,
               checkpoint=metrics['checkpoint'])
    with open(row_file, 'w') as fh:
        json.dump(row, fh, indent=1)
    return row


def fmt(v, spec='.3f'):
    return '-' if v is None else format(v, spec)


def write_outputs(rows: list, work_root: str) -> str:
    """``ablation.md`` / ``ablation.csv`` / ``ablation.png`` under ``work_root``; returns
    the markdown table."""
    root = osp.join(REPO, work_root)
    os.makedirs(root, exist_ok=True)
    head = ('| route | SV/MV | AP | AP50 | AP25 | mCov | mRec | AP (cls) | AP50 (cls) | '
            'AP25 (cls) | s/iter | params trainable / total | config | commit |')
    lines = [head, '|' + '---|' * 14]
    for r in rows:
        lines.append(
            f"| {r['route']} | {r['mode']} | " + ' | '.join(fmt(r[m]) for m in AGNOSTIC + AWARE)
            + f" | {fmt(r['s_per_iter'], '.2f')} | {r['params_trainable']:,} / "
            f"{r['params_total']:,} | {osp.basename(r['config'])} | {r['commit']} |")
    table = '\n'.join(lines)
    with open(osp.join(root, 'ablation.md'), 'w') as fh:
        fh.write(table + '\n')
    fields = list(rows[0])
    with open(osp.join(root, 'ablation.csv'), 'w', newline='') as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, osp.join(root, 'ablation.png'))
    return table


def plot(rows: list, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    names = [f"{r['route']} ({r['mode']})" for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(rows)), 4))
    for i, (m, label) in enumerate(zip(AGNOSTIC[:3], ('AP', 'AP50', 'AP25'))):
        ax.bar(x + (i - 1) * 0.27, [r[m] for r in rows], 0.27, label=label)
    ax.set_xticks(x, names, rotation=30, ha='right')
    ax.set_ylim(0, 1)
    ax.set_ylabel('class-agnostic instance AP')
    ax.legend()
    ax.set_title(f"ablation ({rows[0]['commit']})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def prepare(args) -> None:
    py = sys.executable
    for kind, out in (('scannet_sv', 'data/scannet_sample_sv'),
                      ('scannet_mv', 'data/scannet_sample_mv')):
        infos = osp.join(out, f'{kind}_oneformer3d_infos_train_clip.pkl')
        if not osp.isfile(osp.join(REPO, infos)) or args.force:
            run([py, 'tools/create_data.py', kind, '--root-path',
                 osp.join(args.data, 'scannet'), '--out-dir', out, '--pack-clip'],
                osp.join(args.work_root, f'prepare_{kind}.log'), args.dry_run)
        run([py, 'tools/extract_2d_features.py', '--infos', infos, '--encoder',
             'RGBPatchEncoder'], osp.join(args.work_root, f'extract_{kind}.log'), args.dry_run)


def main(argv=None):
    args = parse_args(argv)
    suffix = args.suffix or SCALES[args.scale]
    if args.prepare:
        if args.scale != 'sample':
            raise SystemExit('--prepare creates the shared sample only (--scale sample)')
        prepare(args)
    commit = subprocess.run(['git', 'describe', '--always', '--dirty'], cwd=REPO,
                            capture_output=True, text=True).stdout.strip() or 'unknown'
    dirs, rows = {}, []
    for key in plan(args.preset, args.rows):
        row = run_row(key, args, suffix, dirs, commit)
        if row:
            rows.append(row)
            print(f"row={key} ap={row['ca_ap']:.4f} ap50={row['ca_ap50']:.4f} "
                  f"ap25={row['ca_ap25']:.4f} s_per_iter={row['s_per_iter']:.3f}", flush=True)
    if rows:
        print(write_outputs(rows, args.work_root))
        print(f'written: {osp.join(args.work_root, "ablation")}.{{md,csv,png}}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
