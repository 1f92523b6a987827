"""``tools/ablation.py``: the plan (dependency order, checkpoint wiring), every row against
its control (only declared differences), the step-0 identity of every route
(``--check-init``), and a real run on the shared frames (tiny schedule) that resumes and
aggregates seeds."""
import csv
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from oneformer3d.engine.ablation import (PRESETS, ROUTES, check_init, config_of,
                                         undeclared_differences)
from tests.conftest import REPO, call_tool, load_tool

ablation = load_tool('ablation')
SUFFIXES = ['scannet_sample', 'scannet', 'scannet200']


def test_plan_puts_dependencies_first_and_wires_checkpoints(tmp_path, capsys):
    """``--preset all --dry-run``: SV before MV, each control before its route; MV rows load
    their SV row; BiFusion SV loads the 3D+Tiny-SA SV checkpoint, BiFusion MV loads BiFusion
    SV whole and takes memory and merge head from 3D+Tiny-SA MV (as its control does); the
    DINO rows start from the 3D SV row; ``--rows`` adds the rows a row needs."""
    ablation.main(['--preset', 'all', '--dry-run', '--work-root', str(tmp_path),
                   '--mv-iters', '5', '--ft-iters', '3', '--long-iters', '7'])
    trains = [line for line in capsys.readouterr().out.splitlines() if 'tools/train.py' in line]
    order = [line.split()[3].split('/')[-1][:-3] for line in trains]
    chain = [f'ESAM_{m}_{r}_scannet_sample' for r in ('3d', '3dtsa', '3dtsa_long', 'bifusion')
             for m in ('sv', 'online')]
    dino = [f'ESAM_sv_{r}_scannet_sample'
            for r in ('3d_finetune', 'dino_bifusion', 'dino_fpn_inject', 'dino_early')]
    assert order == chain + dino
    line_of = dict(zip(order, trains))

    def ckpt(name):
        return f'{tmp_path}/seed0/ESAM_{name}_scannet_sample/'
    expect = {'online_3d': ('sv_3d', None), 'online_3dtsa': ('sv_3dtsa', None),
              'sv_3dtsa_long': ('sv_3dtsa', None),
              'online_3dtsa_long': ('sv_3dtsa_long', 'online_3dtsa'),
              'sv_bifusion': ('sv_3dtsa', None),
              'online_bifusion': ('sv_bifusion', 'online_3dtsa')}
    for name, line in line_of.items():
        short = name[len('ESAM_'):-len('_scannet_sample')]
        if name in dino:
            assert f'load_from={ckpt("sv_3d")}' in line and 'train_cfg.max_iters=3' in line
            continue
        parent, hook = expect.get(short, (None, None))
        assert (f'load_from={ckpt(parent)}' in line) if parent else 'load_from=' not in line
        assert (f'+partial_load.checkpoint={ckpt(hook)}' in line) if hook else \
            'partial_load' not in line
        if 'long' in short or 'bifusion' in short:
            assert 'train_cfg.max_iters=7' in line or short.startswith('online')
    assert ablation.plan('dino', ['sv_dino_early']) == ['sv_3d', 'sv_dino_early']
    with pytest.raises(SystemExit, match='not in preset dino'):
        ablation.plan('dino', ['online_3d'])


@pytest.mark.parametrize('suffix', SUFFIXES)
def test_every_row_differs_from_its_control_only_as_declared(suffix):
    """The resolved optimiser wrapper, schedule, loop, neck, load_from (by row), hooks and
    batch size of every row equal its control's except the fields its route declares; the
    recipe itself is the seed plan's (written out here)."""
    for key in ROUTES:
        assert undeclared_differences(key, suffix, REPO) == [], key
    full = suffix != 'scannet_sample'
    for key, lr, warmup, length in (('sv_3d', 6e-4, 1000, 128), ('sv_3dtsa', 6e-4, 1000, 128),
                                    ('sv_3dtsa_long', 5e-4, 2000, 160),
                                    ('sv_bifusion', 5e-4, 2000, 160),
                                    ('online_bifusion', 5e-4, 2000, 160)):
        cfg = Config.fromfile(osp.join(REPO, config_of(key, suffix)))
        opt = cfg.optim_wrapper
        assert opt.optimizer.type == 'AdamW' and opt.optimizer.weight_decay == 1e-2
        assert opt.optimizer.lr == lr
        assert opt.type == ('MixedPrecisionOptimWrapper' if full else 'OptimWrapper')
        warm, cosine = cfg.param_scheduler
        assert warm.type == 'LinearLR' and cosine.type == 'CosineAnnealingLR'
        if full:
            assert (warm.end, cosine.end, cfg.train_cfg.max_epochs) == (warmup, length, length)
    # DINO-BiFusion keeps its parent's (the 3D row's) neck: none
    assert Config.fromfile(osp.join(REPO, config_of('sv_dino_bifusion', suffix))).model.get(
        'neck') is None


def test_an_undeclared_difference_is_caught():
    """The same check on rows changed by hand: an lr, a neck, a hook checkpoint and a parent
    that the route table does not declare are each reported."""
    sfx = 'scannet200'
    found = undeclared_differences('sv_bifusion', sfx, REPO,
                                   {'optim_wrapper.optimizer.lr': 6e-4})
    assert len(found) == 1 and found[0].startswith('optim_wrapper:'), found
    found = undeclared_differences('sv_dino_bifusion', sfx, REPO,
                                   {'model.neck': dict(type='TinySAModule')})
    assert [f.split(':')[0] for f in found] == ['model.neck']
    found = undeclared_differences('sv_bifusion', sfx, REPO, {
        'load_from': 'work_dirs/ESAM_online_3dtsa_scannet200/epoch_128.pth'})
    assert [f.split(':')[0] for f in found] == ['load_from']
    # would overwrite the memory's zero conversion conv
    found = undeclared_differences('online_bifusion', sfx, REPO, {'partial_load.exclude': []})
    assert [f.split(':')[0] for f in found] == ['custom_hooks']
    assert 'custom_hooks' not in ROUTES['online_bifusion'].declared


def test_two_row_ablation_on_real_frames_resumes_and_aggregates_seeds(sv_root, tmp_path,
                                                                     monkeypatch):
    """3D -> DINO-FPN-inject (RGB-patch store) for 1 iteration each on the real SV frames:
    one table (markdown, CSV, PNG) with finite metrics, logged s/iter, parameter counts (the
    injector's bias-free projections are the only extra parameters) and the declared
    difference; the DINO row fine-tuned the 3D row's checkpoint; a second call skips both
    finished rows and writes the same table; a third with ``--seeds 0 1`` trains only seed 1
    and reports the mean and range of the two seeds."""
    work = tmp_path / 'abl'
    monkeypatch.setenv('OMP_NUM_THREADS', '1')          # inherited by the rows' commands
    # one block per stage; the row's metrics come from tools/test.py, so no validation inside
    # training and no optimiser state in the checkpoint (faster; the tool's defaults keep both)
    opts = ['model.backbone.layers=[1,1,1,1,1,1,1,1]', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'train_cfg.val_interval=100',
            'default_hooks.checkpoint.save_optimizer=False'] + \
        [f'{loader}.dataset.data_root={sv_root}/'
         for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    args = ['--preset', 'dino', '--rows', 'sv_dino_fpn_inject', '--sv-iters', '1',
            '--ft-iters', '1', '--work-root', str(work), '--deterministic', '--cfg-options',
            *opts]
    rc, first = call_tool('ablation', *args)    # the tool in-process; its rows are commands
    assert rc == 0, first[-4000:]
    with open(work / 'ablation.csv', newline='') as fh:
        rows = list(csv.DictReader(fh))
    assert [r['key'] for r in rows] == ['sv_3d', 'sv_dino_fpn_inject']
    for r in rows:
        for m in ('ca_ap', 'ca_ap50', 'ca_ap25', 'mCov', 'mRec', 's_per_iter'):
            assert 0 <= float(r[m]) < (1e3 if m == 's_per_iter' else 1.0 + 1e-9), (m, r)
        assert float(r['s_per_iter']) > 0 and r['ap'] == ''      # class-agnostic configs
    extra = int(rows[1]['params_total']) - int(rows[0]['params_total'])
    # DINOFPNInjector: one bias-free Linear(3 -> C) per decoder stride; C = the U-Net's
    # decoder widths
    from oneformer3d.models.backbones import Res16UNet34C
    widths = Res16UNet34C(3, layers=[1] * 8).decoder_channels()
    assert extra == sum(3 * c for c in widths.values())
    # the DINO row started from the 3D row's checkpoint: only the injector was not in it
    seed0 = work / 'seed0'
    log = (seed0 / 'ESAM_sv_dino_fpn_inject_scannet_sample' / 'ablation_train.log').read_text()
    assert f'{seed0}/ESAM_sv_3d_scannet_sample/iter_1.pth: loaded' in log
    assert 'missing 4 (' in log and 'missing: injector.proj.8.weight' in log
    table = (work / 'ablation.md').read_text()
    assert '| DINO-FPN-inject | SV | 3D fine-tuned SV + DINO pyramid into the decoder |' in table
    assert (work / 'ablation.png').stat().st_size > 0
    rc, second = call_tool('ablation', *args)          # in-process: nothing to train
    assert rc == 0 and second.count('finished, skipped') == 2 and 'tools/train.py' not in second
    assert (work / 'ablation.md').read_text() == table
    assert 'row=sv_dino_fpn_inject seed=0' in first
    row = json.loads((seed0 / 'ESAM_sv_dino_fpn_inject_scannet_sample' /
                      'ablation_row.json').read_text())
    assert row['checkpoint'].endswith('iter_1.pth') and row['commit'] and row['seed'] == 0
    # the parent changed (as after a re-run with --force): its child is not reused
    parent = seed0 / 'ESAM_sv_3d_scannet_sample' / 'iter_1.pth'
    ckpt = torch.load(parent, map_location='cpu', weights_only=True)
    ckpt['meta']['rewritten'] = True
    torch.save(ckpt, parent)
    rc, again = call_tool('ablation', *args, '--dry-run')     # the plan, not the training
    assert rc == 0 and again.count('finished, skipped') == 1, again[-3000:]
    assert ('sv_dino_fpn_inject: the finished row was made with another parents; re-running'
            in again) and again.count('tools/train.py') == 1
    rc, third = call_tool('ablation', *(args[:2] + ['--rows', 'sv_3d', '--seeds', '0', '1']
                                        + args[4:]))
    assert rc == 0 and third.count('tools/train.py') == 1 and 'row=sv_3d seed=1' in third
    with open(work / 'ablation.csv', newline='') as fh:
        runs = [(r['key'], r['seed'], float(r['ca_ap50'])) for r in csv.DictReader(fh)]
    assert [r[:2] for r in runs] == [('sv_3d', '0'), ('sv_3d', '1')]
    line = [ln for ln in (work / 'ablation.md').read_text().splitlines() if '| 3D | SV' in ln][0]
    ap50 = [r[2] for r in runs]
    cell = line.split(' | ')[4]
    mean = f'{sum(ap50) / 2:.3f}'
    assert cell == (mean if ap50[0] == ap50[1] else
                    f'{mean} ({min(ap50):.3f}-{max(ap50):.3f})'), (cell, ap50)
    assert line.split(' | ')[-3] == '0 1'


def test_check_init_every_route_starts_as_its_parent(sv_root, mv_clip_root, tmp_path):
    """``--check-init`` on the real frames (random parents written by the tool, their
    zero-initialised tensors perturbed): BiFusion MV (BiFusion SV whole + memory and merge
    head of 3D+Tiny-SA MV through its hook), DINO-early (stem padded with zero input
    channels) and DINO-FPN-inject predict exactly what their parents predict, frame by frame;
    the same BiFusion SV without the identity start (random projections) or with the convex
    LiteFusionGate fails with exit 1."""
    work = str(tmp_path / 'check')

    def run(rows, root, *opts):
        data = [f'{loader}.dataset.data_root={root}/' for loader in ('val_dataloader',)]
        return call_tool('ablation', '--preset', 'all', '--rows', *rows, '--check-init',
                         '--work-root', work, '--cfg-options', *data, *opts)
    rc, out = run(['online_bifusion'], mv_clip_root)
    assert rc == 0, out[-3000:]
    line = [ln for ln in out.splitlines() if ln.startswith('init_identity row=online_bif')][0]
    assert 'parent=sv_bifusion max_abs_diff=0 ' in line, line
    assert 'init_parent row=online_3dtsa' in out and 'zero tensors perturbed' in out
    rc, out = run(['sv_dino_early', 'sv_dino_fpn_inject', 'sv_bifusion'], sv_root)
    assert rc == 0, out[-3000:]
    for key in ('sv_dino_early', 'sv_dino_fpn_inject', 'sv_bifusion'):
        line = [ln for ln in out.splitlines() if ln.startswith(f'init_identity row={key} ')][0]
        diff, scale = (float(line.split(f'{k}=')[1].split()[0])
                       for k in ('max_abs_diff', 'max_abs_logit'))
        assert diff <= 1e-5 * scale and scale > 1.0, line
    for opt in ('model.bi_encoder.identity_init=False',
                'model.bi_encoder.gate.type=LiteFusionGate'):
        rc, out = run(['sv_bifusion'], sv_root, opt)
        assert rc == 1 and 'rows above' in out, out[-2000:]


def test_check_init_helper_reports_every_checked_row(sv_root, tmp_path, monkeypatch):
    """``check_init`` returns one (difference, scale) per checked row and none for the root."""
    monkeypatch.chdir(REPO)
    opts = {'val_dataloader.dataset.data_root': f'{sv_root}/'}
    res = check_init(['sv_3d', 'sv_3dtsa'], 'scannet_sample', str(tmp_path), options=opts,
                     log=lambda m: None)
    assert list(res) == ['sv_3dtsa'] and res['sv_3dtsa'][0] == 0.0
    assert set(PRESETS['all']) == set(ROUTES)


def test_the_full_scale_plan_gives_runnable_commands(tmp_path, capsys):
    """The README's ``--scale full`` commands (no iteration options): every train.py command
    parses with train.py's own parser (a bare ``--cfg-options`` did not); negative
    iterations are refused with the option named."""
    ablation.main(['--preset', 'all', '--scale', 'full', '--dry-run', '--work-root',
                   str(tmp_path)])
    train_tool = load_tool('train')
    trains = [line[2:].split() for line in capsys.readouterr().out.splitlines()
              if 'tools/train.py' in line]
    assert len(trains) == 12
    for cmd in trains:
        args = train_tool.parse_args(cmd[cmd.index('tools/train.py') + 1:])
        assert args.config.endswith('_scannet200.py')
    assert '--cfg-options' not in trains[0]
    with pytest.raises(SystemExit):
        ablation.main(['--mv-iters', '-3', '--dry-run', '--work-root', str(tmp_path)])
    assert '--mv-iters -3: at least 1 iteration' in capsys.readouterr().err
