"""``tools/ablation.py``: the plan (dependency order, checkpoint wiring), the DINO routes'
common schedule, and a real two-row run on the shared frames (tiny schedule) that resumes."""
import csv
import json
import os.path as osp

import pytest
from mmengine.config import Config

from tests.conftest import REPO, call_tool, load_tool

ablation = load_tool('ablation')


def test_plan_puts_dependencies_first_and_wires_checkpoints(tmp_path, capsys):
    """``--preset all --dry-run``: the fusion-core chain (3D -> 3D+Tiny-SA -> BiFusion, SV
    before MV; MV rows load their SV checkpoint, both BiFusion rows point their
    PartialLoadHook at the 3D+Tiny-SA MV work dir), then the DINO rows, each starting from the
    3D SV row's checkpoint; ``--rows`` adds the rows a row needs."""
    ablation.main(['--preset', 'all', '--dry-run', '--work-root', str(tmp_path),
                   '--mv-iters', '5', '--ft-iters', '3'])
    trains = [line for line in capsys.readouterr().out.splitlines() if 'tools/train.py' in line]
    order = [line.split()[3].split('/')[-1][:-3] for line in trains]
    chain = [f'ESAM_{m}_{r}_scannet_sample' for r in ('3d', '3dtsa', 'bifusion')
             for m in ('sv', 'online')]
    dino = [f'ESAM_sv_{r}_scannet_sample'
            for r in ('3d_finetune', 'dino_bifusion', 'dino_fpn_inject', 'dino_early')]
    assert order == chain + dino
    sv3d, tsa_mv = f'{tmp_path}/ESAM_sv_3d_scannet_sample/', \
        f'{tmp_path}/ESAM_online_3dtsa_scannet_sample/'
    for line, name in zip(trains, order):
        if name.startswith('ESAM_online'):
            sv = name.replace('online', 'sv')
            assert f'load_from={tmp_path}/{sv}/' in line and 'train_cfg.max_iters=5' in line
        if name in dino:
            assert f'load_from={sv3d}' in line and 'train_cfg.max_iters=3' in line
        hooked = 'bifusion' in name
        assert ('custom_hooks.3.checkpoint=' in line) == hooked
        if hooked:
            assert f'checkpoint={sv3d if "dino" in name else tsa_mv}' in line
    assert ablation.plan('dino', ['sv_dino_early']) == ['sv_3d', 'sv_dino_early']
    with pytest.raises(SystemExit, match='not in preset dino'):
        ablation.plan('dino', ['online_3d'])


@pytest.mark.parametrize('suffix', ['scannet_sample', 'scannet', 'scannet200'])
def test_dino_routes_share_one_schedule_and_initialisation(suffix):
    """Every DINO row of a scale (and the 3D fine-tuned control) has the same optimiser lr and
    weight decay, lr schedule, loop and ``load_from``; DINO-BiFusion's PartialLoadHook takes
    the U-Net from that same checkpoint."""
    def key(route):
        cfg = Config.fromfile(osp.join(REPO, ablation.config_of(route, suffix)))
        opt = cfg.optim_wrapper.optimizer
        return (opt.lr, opt.weight_decay, str(cfg.param_scheduler), str(cfg.train_cfg),
                cfg.load_from), cfg
    ref, _ = key('sv_3d_ft')
    for route in ('sv_dino_bifusion', 'sv_dino_fpn_inject', 'sv_dino_early'):
        got, _ = key(route)
        assert got == ref, route
    bif = Config.fromfile(osp.join(REPO, ablation.config_of('sv_dino_bifusion', suffix)))
    hooks = [h for h in bif.custom_hooks if h.type == 'PartialLoadHook']
    assert len(hooks) == 1 and hooks[0].checkpoint == ref[-1]


def test_two_row_ablation_on_real_frames_resumes(sv_root, tmp_path, monkeypatch):
    """3D -> DINO-FPN-inject (RGB-patch store) for 1 iteration each on the real SV frames:
    one table (markdown, CSV, PNG) with finite metrics, logged s/iter and parameter counts
    (the injector's projections are the only extra parameters); the DINO row fine-tuned the
    3D row's checkpoint; a second call skips both finished rows and writes the same table."""
    work = tmp_path / 'abl'
    monkeypatch.setenv('OMP_NUM_THREADS', '1')          # inherited by the rows' commands
    # one block per stage; the row's metrics come from tools/test.py, so no validation inside
    # training and no optimiser state in the checkpoint (faster; the tool's defaults keep both)
    opts = ['model.backbone.layers=[1,1,1,1,1,1,1,1]', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'train_cfg.val_interval=100',
            'default_hooks.checkpoint.save_optimizer=False'] + \
        [f'{loader}.dataset.data_root={sv_root}/'
         for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    args = [osp.join(REPO, 'tools', 'ablation.py'), '--preset', 'dino', '--rows',
            'sv_dino_fpn_inject', '--sv-iters', '1', '--ft-iters', '1', '--work-root',
            str(work), '--deterministic', '--cfg-options', *opts]
    rc, first = call_tool('ablation', *args[1:])    # the tool in-process; its rows are commands
    assert rc == 0, first[-4000:]
    with open(work / 'ablation.csv', newline='') as fh:
        rows = list(csv.DictReader(fh))
    assert [r['key'] for r in rows] == ['sv_3d', 'sv_dino_fpn_inject']
    for r in rows:
        for m in ('ca_ap', 'ca_ap50', 'ca_ap25', 'mCov', 'mRec', 's_per_iter'):
            assert 0 <= float(r[m]) < (1e3 if m == 's_per_iter' else 1.0 + 1e-9), (m, r)
        assert float(r['s_per_iter']) > 0 and r['ap'] == ''      # class-agnostic configs
    extra = int(rows[1]['params_total']) - int(rows[0]['params_total'])
    # DINOFPNInjector: one Linear(3 -> C) per decoder stride; C = the U-Net's decoder widths
    from oneformer3d.models.backbones import Res16UNet34C
    widths = Res16UNet34C(3, layers=[1] * 8).decoder_channels()
    assert extra == sum(4 * c for c in widths.values())
    # the DINO row started from the 3D row's checkpoint: only the injector was not in it
    log = (work / 'ESAM_sv_dino_fpn_inject_scannet_sample' / 'ablation_train.log').read_text()
    assert f'{work}/ESAM_sv_3d_scannet_sample/iter_1.pth: loaded' in log
    assert 'missing 8 (' in log and 'missing: injector.proj.8.weight' in log
    table = (work / 'ablation.md').read_text()
    assert '| DINO-FPN-inject | SV |' in table and (work / 'ablation.png').stat().st_size > 0
    rc, second = call_tool('ablation', *args[1:])          # in-process: nothing to train
    assert rc == 0 and second.count('finished, skipped') == 2 and 'tools/train.py' not in second
    assert (work / 'ablation.md').read_text() == table
    assert 'row=sv_dino_fpn_inject' in first
    row = json.loads((work / 'ESAM_sv_dino_fpn_inject_scannet_sample' /
                      'ablation_row.json').read_text())
    assert row['checkpoint'].endswith('iter_1.pth') and row['commit']
