"""tools/train.py: 2-process torchrun on CPU (gloo), exact resume, and a diverging run stopped,
on the cropped real scene."""
import os
import os.path as osp
import re

import pytest
import torch

from oneformer3d.datasets.preprocessing.scannet_scans import create_scannet_infos
from oneformer3d.metainfo import SCANNET20
from tests.conftest import REPO, call_tool, load_tool, run_script
from tests.helpers.builders import train

CONFIG = osp.join(REPO, 'configs/oneformer3d/overfit_scene.py')


@pytest.fixture(scope='module')
def prepared_crop(cropped_scene, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('crop_prepared'))
    create_scannet_infos(cropped_scene, out, SCANNET20, 'scannet')
    return out


def options(data_root, iters, interval):
    # 300 queries: the crop's 1,262 superpoints need no more (tests/test_overfit.py); the
    # config's 1,000 are for whole scenes and cost ~2x per step on one thread
    opts = [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters + 1}',
            f'param_scheduler.end={iters}', f'default_hooks.checkpoint.interval={interval}',
            'default_hooks.checkpoint.max_keep_ckpts=5', 'model.decoder.max_queries=300']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.dataset.data_root={data_root}',
                 f'{loader}.dataset.ann_file=scannet_oneformer3d_infos_train.pkl']
    return opts


def weights(path):
    return torch.load(path, map_location='cpu', weights_only=True)['state_dict']


def assert_same_weights(a, b, exact_ints=False):
    """Same keys; float tensors within 1e-4 relative / 1e-5 absolute (message names the
    tensor); integer buffers (BN counters) equal when ``exact_ints``."""
    assert a.keys() == b.keys()
    for k in a:
        if a[k].is_floating_point():
            torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5,
                                       msg=lambda m, k=k: f'{k}: {m}')
        elif exact_ints:
            assert torch.equal(a[k], b[k]), k


@pytest.mark.slow
def test_torchrun_two_processes_equal_one_process(prepared_crop, tmp_path):
    """torchrun with 2 processes (gloo) equals one process on the same global batch.

    The crop dataset holds one scene and the overfit config has no augmentation and fixed
    farthest-point queries, so both ranks see the same sample: DDP's averaged gradient is that
    sample's gradient, and 2 iterations must reach the weights of a 1-process run (one
    OpenMP thread each, as in the resume test)."""
    ddp, single = tmp_path / 'ddp', tmp_path / 'single'
    train([CONFIG, '--work-dir', str(ddp), '--cfg-options', *options(prepared_crop, 2, 2)],
          nproc=2)
    train([CONFIG, '--work-dir', str(single), '--cfg-options', *options(prepared_crop, 2, 2)],
          threads=1)
    a, b = weights(ddp / 'iter_2.pth'), weights(single / 'iter_2.pth')
    assert_same_weights(a, b)


@pytest.mark.slow
def test_resume_equals_uninterrupted_training(prepared_crop, tmp_path):
    """4 iterations == 2 iterations, resume from that checkpoint, 2 more (same seed). The
    uninterrupted run is started with ``--resume`` in an empty work dir: it says so and trains
    from scratch; ``--resume`` of a file that does not exist stops, naming it.

    One thread: multi-threaded CPU scatter reductions sum in a varying order, and Adam's
    normalised step turns those ulp differences of near-zero gradients into lr-sized ones.
    Measured: two identical 4-iteration runs differ by up to 0.024 in a weight with 2 threads
    and are bitwise equal with 1 (a CI run with 2 threads failed on an attention bias)."""
    full = tmp_path / 'full'
    res = train([CONFIG, '--work-dir', str(full), '--resume', '--cfg-options',
                 *options(prepared_crop, 4, 2)], threads=1)
    assert f'--resume: no checkpoint in {full}: training starts from scratch' in res.stderr
    resumed = tmp_path / 'resumed'
    resumed.mkdir()
    # the checkpoint after 2 of the 4 iterations, loaded with weights_only=True (our own file)
    train([CONFIG, '--work-dir', str(resumed), '--resume', str(full / 'iter_2.pth'),
           '--cfg-options', *options(prepared_crop, 4, 2)], threads=1)
    a, b = weights(full / 'iter_4.pth'), weights(resumed / 'iter_4.pth')
    assert_same_weights(a, b, exact_ints=True)
    start = weights(full / 'iter_2.pth')
    assert any(not torch.equal(start[k], a[k]) for k in a if a[k].is_floating_point())
    train_tool = load_tool('train')
    with pytest.raises(SystemExit, match='nope.pth: no such checkpoint file'):
        train_tool.build_cfg(train_tool.parse_args([CONFIG, '--resume',
                                                    str(tmp_path / 'nope.pth')]))


@pytest.mark.slow
def test_amp_on_cpu_trains_with_bf16(prepared_crop, tmp_path):
    """--amp: MixedPrecisionOptimWrapper, bf16 autocast on CPU (mmengine's AmpOptimWrapper
    asserts a GPU): weights stay float32 and finite, the checkpoint records the skipped-step
    counter, and the second update points the same way as the fp32 run's (same init, data
    and queries; one thread each)."""
    runs, logs = {}, {}
    for name, extra in (('amp', ['--amp']), ('fp32', [])):
        wd = tmp_path / name
        res = train([CONFIG, '--work-dir', str(wd), *extra, '--cfg-options',
                     *options(prepared_crop, 2, 1)], threads=1)
        logs[name] = res.stdout + res.stderr
        runs[name] = [torch.load(wd / f'iter_{i}.pth', map_location='cpu', weights_only=True)
                      for i in (1, 2)]
    assert 'MixedPrecisionOptimWrapper' in logs['amp']
    assert 'MixedPrecisionOptimWrapper' not in logs['fp32']
    amp1, amp2 = runs['amp']
    assert amp2['optimizer']['skipped_steps'] == 0
    w = amp2['state_dict']['decoder.cls_head.2.weight']
    assert w.dtype == torch.float32 and torch.isfinite(w).all()

    def update(ckpts):
        a, b = (c['state_dict'] for c in ckpts)
        return torch.cat([(b[k] - a[k]).flatten() for k in a if a[k].is_floating_point()])
    cos = torch.nn.functional.cosine_similarity(update(runs['amp']), update(runs['fp32']),
                                                dim=0)
    assert cos > 0.8, float(cos)


@pytest.mark.slow
def test_test_tool_loads_strictly(prepared_crop, tmp_path):
    """tools/test.py with a checkpoint of another config (class-agnostic, no semantic head)
    under the class-aware 18-class config stops with the load report instead of scoring
    random heads; --allow-partial-load evaluates and marks the metrics row partial."""
    import csv
    import subprocess
    import sys
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from oneformer3d.registry import MODELS
    wd = tmp_path / 'ca'
    wd.mkdir()
    # the overfit config with the full Res16UNet34C depth: only the heads differ
    full_depth = 'model.backbone.layers=[2,3,4,6,2,2,2,2]'
    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.layers = [2, 3, 4, 6, 2, 2, 2, 2]
    init_default_scope('oneformer3d')
    torch.save(dict(meta=dict(iter=1), state_dict=MODELS.build(cfg.model).state_dict()),
               wd / 'iter_1.pth')
    aware = osp.join(REPO, 'configs/oneformer3d/oneformer3d_scannet_sample.py')
    opts = ['--cfg-options', *[o for o in options(prepared_crop, 1, 1)
                               if o.startswith(('val_', 'test_'))]]
    cmd = [sys.executable, osp.join(REPO, 'tools/test.py'), aware, str(wd / 'iter_1.pth'),
           '--work-dir', str(tmp_path / 'eval'), *opts]
    env = dict(__import__('os').environ, PYTHONPATH=REPO, OMP_NUM_THREADS='2')
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode != 0
    err = res.stdout + res.stderr
    assert 'strict loading needs every key to match' in err, err[-3000:]
    assert 'decoder.cls_head.2.weight (2, 256) in the checkpoint vs (19, 256)' in err
    assert 'decoder.sem_head.weight' in err  # missing
    assert not (tmp_path / 'eval' / 'metrics.csv').exists()
    run_script(cmd[1:] + ['--allow-partial-load'])
    with open(tmp_path / 'eval' / 'metrics.csv') as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and rows[0]['load'] == 'partial'
    # the same checkpoint under its own config loads fully
    run_script([osp.join(REPO, 'tools/test.py'), CONFIG, str(wd / 'iter_1.pth'),
                '--work-dir', str(tmp_path / 'eval'), *opts, full_depth])
    with open(tmp_path / 'eval' / 'metrics.csv') as fh:
        assert [r['load'] for r in csv.DictReader(fh)] == ['partial', 'full']




def test_a_diverging_run_stops_naming_the_iteration_and_its_checkpoint_is_refused(
        prepared_crop, tmp_path):
    """lr 1e30: iteration 1 is finite (iter_1.pth written), iteration 2's loss is NaN and the
    run stops with an error naming it, before a checkpoint of the broken weights. A
    checkpoint with a NaN weight is refused by tools/test.py naming the file and the key, and
    no metrics.csv row is written."""
    import subprocess
    import sys
    work = tmp_path / 'diverged'
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    res = subprocess.run([sys.executable, osp.join(REPO, 'tools/train.py'), CONFIG,
                          '--work-dir', str(work), '--cfg-options',
                          *options(prepared_crop, 3, 1), 'optim_wrapper.optimizer.lr=1e30'],
                         env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode != 0
    assert re.search(r'FloatingPointError: iteration 2: the loss is (nan|inf)', res.stderr), \
        res.stderr[-2000:]
    assert (work / 'iter_1.pth').is_file() and not (work / 'iter_2.pth').exists()

    ckpt = torch.load(work / 'iter_1.pth', map_location='cpu', weights_only=True)
    key = sorted(k for k, v in ckpt['state_dict'].items() if v.is_floating_point())[3]
    ckpt['state_dict'][key].view(-1)[:2] = float('nan')
    bad = tmp_path / 'nan.pth'
    torch.save(ckpt, bad)
    with pytest.raises(ValueError, match=re.escape(f'{bad}: non-finite weights: {key} holds '
                                                   f'2 NaN/Inf')):
        call_tool('test', CONFIG, bad, '--work-dir', tmp_path / 'test',
                  '--cfg-options', *options(prepared_crop, 3, 1))
    assert not (tmp_path / 'test' / 'metrics.csv').exists()


def test_amp_skips_and_counts_instead_of_stopping():
    """With --amp (MixedPrecisionOptimWrapper) a NaN loss's step is skipped and counted by
    the wrapper (its gradients are not finite) and the hook lets the run go on; with a plain
    OptimWrapper the same iteration stops it."""
    from types import SimpleNamespace
    from mmengine.optim import OptimWrapper
    from oneformer3d.engine import CheckInvalidLossHook, MixedPrecisionOptimWrapper
    param = torch.nn.Parameter(torch.ones(3))
    amp = MixedPrecisionOptimWrapper(optimizer=torch.optim.SGD([param], lr=0.1),
                                     dtype='bfloat16', device_type='cpu')
    loss = (param * float('nan')).sum()
    amp.update_params(loss)
    assert amp.skipped_steps == 1 and torch.equal(param.detach(), torch.ones(3))
    hook, out = CheckInvalidLossHook(), dict(loss=loss.detach(), loss_cls=loss.detach())
    hook.after_train_iter(SimpleNamespace(optim_wrapper=amp, iter=6, work_dir='w'), 0, None, out)
    plain = OptimWrapper(optimizer=torch.optim.SGD([param], lr=0.1))
    with pytest.raises(FloatingPointError, match=r'iteration 7: the loss is nan \(loss_cls=nan'):
        hook.after_train_iter(SimpleNamespace(optim_wrapper=plain, iter=6, work_dir='w'), 0,
                              None, out)


def test_one_run_per_work_dir(prepared_crop, tmp_path, caplog):
    """A live run's lock stops a second train.py in the same work dir (naming the pid and
    the lock file) before it builds anything; a lock left by a process that no longer exists
    is reported and taken over, and released when the run ends."""
    import json
    import subprocess
    import sys
    from oneformer3d.engine.work_dir_lock import WorkDirLock
    work = tmp_path / 'run'
    with WorkDirLock(str(work)) as held:      # this process: a live run
        rc, log = call_tool('train', CONFIG, '--work-dir', work, '--cfg-options',
                            *options(prepared_crop, 1, 1))
        assert rc != 0
        assert f'{held.path}: another run uses this work dir (pid {os.getpid()} on this host' \
            in log, log[-2000:]
        assert not (work / 'iter_1.pth').exists()
        with pytest.raises(RuntimeError, match='another run uses this work dir'):
            WorkDirLock(str(work)).acquire()
    assert not (work / 'run.lock').exists()
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()                                    # a pid that no longer exists
    with open(work / 'run.lock', 'w') as fh:
        json.dump(dict(pid=dead.pid, host=__import__('socket').gethostname(),
                       start='2026-12-06 00:00:00', command='tools/train.py (killed)'), fh)
    with WorkDirLock(str(work)) as taken:
        assert taken.held and json.load(open(work / 'run.lock'))['pid'] == os.getpid()
    assert f'stale lock of a run that no longer exists (pid {dead.pid}' in caplog.text
    assert not (work / 'run.lock').exists()


def test_the_runner_itself_holds_the_lock_while_training(prepared_crop, tmp_path):
    """Tools that train through the Runner in-process (ablation, compare_action_inputs, the
    demo) get the same lock: a run lock held by a live process stops Runner.train()."""
    from oneformer3d.engine import Runner
    from oneformer3d.engine.work_dir_lock import WorkDirLock
    from oneformer3d.utils.config import load_config
    from mmengine.config import DictAction
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    opts = parser.parse_args(['--o', *options(prepared_crop, 1, 1)]).o
    cfg = load_config(CONFIG, opts, str(tmp_path / 'run'), 'none', 0, False)
    runner = Runner.from_cfg(cfg)
    with WorkDirLock(str(tmp_path / 'run')):
        with pytest.raises(RuntimeError, match='another run uses this work dir'):
            runner.train()
    assert not (tmp_path / 'run' / 'iter_1.pth').exists()


def test_two_runners_in_the_same_second_keep_their_own_folders(prepared_crop, tmp_path,
                                                                monkeypatch):
    """mmengine names a run's logger, message hub and visualizer by config and timestamp (to
    the second); two Runners built within one second in one process (seen in CI: two tests)
    must not share them — each writes its config and log into its own work dir."""
    import mmengine.runner.runner as mm_runner
    from mmengine.config import DictAction
    import argparse
    from oneformer3d.engine import Runner
    from oneformer3d.utils.config import load_config
    monkeypatch.setattr(mm_runner.time, 'strftime', lambda fmt, t=None: '20261207_090348')
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    opts = parser.parse_args(['--o', *options(prepared_crop, 1, 1)]).o
    runners = [Runner.from_cfg(load_config(CONFIG, opts, str(tmp_path / name), 'none', 0, False))
               for name in ('a', 'b')]
    assert runners[0].visualizer is not runners[1].visualizer
    assert runners[0].logger is not runners[1].logger
    for name, runner in zip(('a', 'b'), runners):
        assert runner.log_dir.startswith(str(tmp_path / name) + os.sep)
        assert (tmp_path / name / runner.timestamp / 'vis_data' / 'config.py').is_file()
    assert runners[0].timestamp != runners[1].timestamp
