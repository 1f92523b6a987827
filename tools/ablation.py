"""One command for the fusion ablation table: every route against its control, one recipe.

    python tools/ablation.py --preset all --prepare --seeds 0 1 2     # shared sample, CPU
    python tools/ablation.py --preset all --check-init                # step-0 identity check
    python tools/ablation.py --preset all --scale full                # ScanNet200 (GPU)
    python tools/ablation.py --preset clip_fusion --scale full --suffix scannet   # ScanNet-20

Rows, controls and declared differences: ``oneformer3d/engine/ablation.py`` (``ROUTES``);
configs ``configs/{esam,dino}/ESAM_{sv,online}_<route>_<suffix>.py``, suffix
``scannet_sample`` for ``--scale sample``, ``scannet200`` for ``full``. Presets (dependency
order):

* ``clip_fusion``: 3D, 3D+Tiny-SA, 3D+Tiny-SA trained as long as BiFusion (the control of
  BiFusion), BiFusion; SV and MV. MV rows start from their SV row (``load_from``); BiFusion
  SV from the 3D+Tiny-SA SV checkpoint (identity start); BiFusion MV from BiFusion SV whole,
  with memory and merge head of 3D+Tiny-SA MV (``PartialLoadHook``), as its control.
* ``dino``: 3D, 3D fine-tuned (the control), DINO-BiFusion, DINO-FPN-inject, DINO-early:
  every fine-tuning row ``load_from`` the 3D SV checkpoint, on one schedule.
* ``all``: both.

Each row runs ``tools/train.py`` then ``tools/test.py`` on the last checkpoint, in
``<work-root>/seed<s>/<config name>``, once per ``--seeds`` value (each seed its own chain);
the checkpoints a row needs are passed explicitly (``--cfg-options load_from=...
+partial_load.checkpoint=...``). ``--sv-iters`` / ``--mv-iters`` / ``--long-iters`` /
``--long-mv-iters`` / ``--ft-iters`` shorten iteration-based schedules (SV from scratch, MV,
the SV and MV rows "trained as long", DINO fine-tuning). A finished row (``ablation_row.json``)
is skipped, so an interrupted run goes on where it stopped; ``--force`` re-runs the selected
rows.

``--check-init`` trains nothing: for every row it builds the model as its training starts
(``load_from``, ``load_policy``, ``PartialLoadHook``) from its parent (the trained checkpoint
of ``--seeds``' first seed when present, else a seeded random-init parent checkpoint it writes
under ``<work-root>/check_init``, every all-zero parameter of it perturbed so that a weight
that fails to load shows), runs the first sample of the row's validation set through both and
prints ``init_identity row=<row> parent=<parent> max_abs_diff=<x>`` (every decoder layer's
class and mask logits, every frame); exit 1 above 1e-5.

Table: route, SV/MV, the declared difference from its control, class-agnostic AP / AP50 / AP25,
mCov, mRec, class-aware AP / AP50 / AP25 (where the model predicts classes), train s/iter,
parameters trainable / total, config, commit; with several seeds each metric is the mean and
the range (min-max) over them. Written to ``<work-root>/ablation.{md,csv}`` (the CSV has one
line per seed and row) and ``ablation.png`` (AP bars). Exit status: the first failing
stage's, with its log tail.
"""
import argparse
import csv
import glob
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys

from oneformer3d.engine.ablation import PRESETS, ROUTES, SCALES, config_of
from oneformer3d.engine.ablation_table import AGNOSTIC, AWARE, vs_control, write_outputs

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

INIT_TOLERANCE = 1e-5


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
    p.add_argument('--long-iters', type=int,
                   help='iterations of the SV rows trained as long as BiFusion')
    p.add_argument('--long-mv-iters', type=int,
                   help='iterations of the MV rows trained as long as BiFusion')
    p.add_argument('--ft-iters', type=int, help='iterations of the DINO fine-tuning rows')
    p.add_argument('--prepare', action='store_true',
                   help='sample: create the SV/MV sample infos and their RGB-patch stores')
    p.add_argument('--data', default=os.environ.get('ONEFORMER3D_DATA',
                                                    osp.join('..', 'shared', 'data')))
    p.add_argument('--cfg-options', nargs='+', default=[],
                   help='key=value overrides given to every row (train and test; they win '
                        'over the tool\'s schedule options)')
    p.add_argument('--seeds', type=int, nargs='+', default=[0],
                   help='train every row once per seed (mean and range in the table)')
    p.add_argument('--check-init', action='store_true',
                   help='train nothing: check that every row starts as its parent predicts')
    p.add_argument('--deterministic', action='store_true')
    p.add_argument('--force', action='store_true', help='re-run finished rows')
    p.add_argument('--dry-run', action='store_true', help='print the commands only')
    args = p.parse_args(argv)
    for name in ('sv_iters', 'mv_iters', 'long_iters', 'long_mv_iters', 'ft_iters'):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f'--{name.replace("_", "-")} {value}: at least 1 iteration')
    return args


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
        return osp.join(work_dir, '<last_checkpoint>')
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
    else:             # warm-up + decay: the decay ends with the run, the warm-up stays
        opts.append(f'param_scheduler.{len(sched) - 1}.end={iters}')
    return opts


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


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def file_sha256(path: str) -> str:
    """SHA-256 of a file's bytes (read in 16 MB blocks)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as fh:
        for block in iter(lambda: fh.read(1 << 24), b''):
            digest.update(block)
    return digest.hexdigest()


def run_row(key, args, suffix, dirs, commit, seed) -> dict:
    from mmengine.config import Config, DictAction
    route, config = ROUTES[key], config_of(key, suffix)
    work_dir = dirs[key] = osp.join(args.work_root, f'seed{seed}',
                                    osp.splitext(osp.basename(config))[0])
    row_file = osp.join(REPO, work_dir, 'ablation_row.json')
    cfg = Config.fromfile(osp.join(REPO, config))
    opts = []
    iters = getattr(args, f'{route.schedule}_iters')
    if iters:
        opts += schedule_options(cfg, iters)
    if 'load_from' in route.needs:
        opts.append(f'load_from={last_checkpoint(dirs[route.needs["load_from"]], args.dry_run)}')
    if 'hook' in route.needs:
        if not cfg.get('partial_load'):
            raise SystemExit(f'{config}: the route needs a partial_load entry (its hook)')
        # '+': partial_load names a run; the checkpoint is given here explicitly
        opts.append(f'+partial_load.checkpoint='
                    f'{last_checkpoint(dirs[route.needs["hook"]], args.dry_run)}')
    opts += args.cfg_options                  # the user's overrides come last: they win
    common = ['--seed', str(seed)] + (['--deterministic'] if args.deterministic else [])
    # a finished row is reused only when made by the same inputs: config text, options,
    # seed and the parents' checkpoint bytes (a parent re-run with --force changes them)
    parents = [o.split('=', 1)[1] for o in opts if o.startswith(('load_from=', '+partial_load.'))]
    made_by = dict(config_sha256=text_sha256(cfg.pretty_text), train_options=opts,
                   test_options=list(args.cfg_options), common=common,
                   parents={p: file_sha256(osp.join(REPO, p)) if osp.isfile(osp.join(REPO, p))
                            else 'not trained yet' for p in parents})
    if osp.isfile(row_file) and not args.force:       # a dry run says what would run, too
        with open(row_file) as fh:
            done = json.load(fh)
        changed = [k for k in made_by if done.get('made_by', {}).get(k) != made_by[k]]
        if not changed:
            print(f'{key}: finished, skipped ({row_file}; --force re-runs)', flush=True)
            return done
        print(f'{key}: the finished row was made with another {", ".join(changed)}; '
              f're-running it', flush=True)
    py = sys.executable
    before = set(glob.glob(osp.join(REPO, work_dir, '2*')))
    run([py, 'tools/train.py', config, '--work-dir', work_dir, *common] +
        (['--cfg-options', *opts] if opts else []),       # a full-scale first row has none
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
    row = dict(key=key, seed=seed, route=route.label, mode=route.mode,
               vs_control=vs_control(key),
               **{m: float(metrics[m]) for m in AGNOSTIC},
               **{m: float(metrics[m]) if metrics.get(m) else None for m in AWARE},
               s_per_iter=train_seconds_per_iter(train_runs), params_trainable=trainable,
               params_total=total, config=config, commit=commit,
               checkpoint=metrics['checkpoint'], made_by=made_by)
    with open(row_file, 'w') as fh:
        json.dump(row, fh, indent=1)
    return row


def prepare(args) -> None:
    py = sys.executable
    # SV: the three posed frames; MV: the real sensor-depth sequence (60 frames)
    mv_posed = ['--posed-dir', osp.join(args.data, 'scannet', 'posed_rgbd'), '--workers', '2']
    for kind, out, extra in (('scannet_sv', 'data/scannet_sample_sv', []),
                             ('scannet_mv', 'data/scannet_sample_mv', mv_posed)):
        infos = osp.join(out, f'{kind}_oneformer3d_infos_train_clip.pkl')
        if not osp.isfile(osp.join(REPO, infos)) or args.force:
            run([py, 'tools/create_data.py', kind, '--root-path',
                 osp.join(args.data, 'scannet'), '--out-dir', out, '--pack-clip', *extra],
                osp.join(args.work_root, f'prepare_{kind}.log'), args.dry_run)
        run([py, 'tools/extract_2d_features.py', '--infos', infos, '--encoder',
             'RGBPatchEncoder'], osp.join(args.work_root, f'extract_{kind}.log'), args.dry_run)


def run_check_init(args, suffix) -> int:
    """``--check-init``: exit 1 when a row's step-0 predictions differ from its parent's by
    more than ``INIT_TOLERANCE``. Full-scale rows read the sample's frames when their own
    data is not here (the check is about weights, not data)."""
    # one thread, set before the first parallel region starts the OpenMP pool: multi-threaded
    # CPU reductions alone make two runs of one model differ by up to ~1e-3
    os.environ['OMP_NUM_THREADS'] = '1'
    import torch
    from mmengine.config import Config, DictAction
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope
    import oneformer3d  # noqa: F401
    from oneformer3d.engine.ablation import check_init
    torch.set_num_threads(1)
    init_default_scope('oneformer3d')
    name = 'ablation_check_init'         # current logger: no init_weights log per tensor
    MMLogger.get_instance(name) if MMLogger.check_instance_created(name) else \
        MMLogger.get_instance(name, log_level='WARNING')
    os.chdir(REPO)                       # configs' data roots and work dirs are relative
    plan(args.preset, args.rows)                         # checks --rows against the preset
    keys = args.rows or PRESETS[args.preset]   # parents' checkpoints are made when needed
    data_suffix = suffix
    ann = Config.fromfile(config_of(keys[0], suffix)).val_dataloader.dataset
    if not osp.isfile(osp.join(ann.get('data_root') or '', ann.ann_file)):
        data_suffix = SCALES['sample']
        print(f'check_init: {suffix} data not found, the rows run on the {data_suffix} '
              f'frames (and read its 2D store: its img_channels / in_channels)', flush=True)
    options = {k: DictAction._parse_iterable(v)
               for k, v in (o.split('=', 1) for o in args.cfg_options)}
    results = check_init(keys, suffix, args.work_root, seed=args.seeds[0],
                         data_suffix=data_suffix, options=options,
                         log=lambda m: print(m, flush=True))
    # relative to the logits' scale: a convolution that grows its input channels (DINO-early's
    # stem) sums the same non-zero terms in another order, ~1 ulp of the largest logit
    bad = {k: d for k, (d, scale) in results.items()
           if not d <= INIT_TOLERANCE * max(1.0, scale)}
    if bad:
        print(f'check_init: rows above {INIT_TOLERANCE:g} x max(1, max_abs_logit): {bad}',
              file=sys.stderr)
        return 1
    print(f'check_init: {len(results)} rows start as their parents (max_abs_diff <= '
          f'{INIT_TOLERANCE:g} x max(1, max_abs_logit))')
    return 0


def main(argv=None):
    args = parse_args(argv)
    suffix = args.suffix or SCALES[args.scale]
    if args.prepare:
        if args.scale != 'sample':
            raise SystemExit('--prepare creates the shared sample only (--scale sample)')
        prepare(args)
    if args.check_init:
        return run_check_init(args, suffix)
    commit = subprocess.run(['git', 'describe', '--always', '--dirty'], cwd=REPO,
                            capture_output=True, text=True).stdout.strip() or 'unknown'
    rows = []
    for seed in args.seeds:
        dirs = {}
        for key in plan(args.preset, args.rows):
            row = run_row(key, args, suffix, dirs, commit, seed)
            if row:
                rows.append(row)
                print(f"row={key} seed={seed} ap={row['ca_ap']:.4f} "
                      f"ap50={row['ca_ap50']:.4f} ap25={row['ca_ap25']:.4f} "
                      f"s_per_iter={row['s_per_iter']:.3f}", flush=True)
    if rows:
        print(write_outputs(rows, osp.join(REPO, args.work_root)))
        print(f'written: {osp.join(args.work_root, "ablation")}.{{md,csv,png}}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
