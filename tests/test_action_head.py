"""Stage 2 on the real RLBench episodes: keyframes and targets, multi-episode preparation, the
action dataset's inputs and errors, and the action head beating the constant baseline on a
held-out episode."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from oneformer3d.robot.datasets import RLBenchActionDataset
from oneformer3d.robot.preprocessing.keyframes import find_keyframes, next_keyframe_targets
from oneformer3d.robot.preprocessing.rlbench import actions_path
from oneformer3d.registry import MODELS
from tests.conftest import REPO, call_tool, data_path, load_tool

init_default_scope('oneformer3d')
EPISODES = ['episode1', 'episode2', 'episode5']
CFG = osp.join(REPO, 'configs', 'robot', 'action_head_rlbench_{}.py')
PREP = ['--num-points', '256', '--cameras', 'front', 'overhead']   # the fixture's settings


def test_keyframes_and_targets_on_the_eight_episodes():
    """PerAct's rule on every shared episode: the gripper-close step, the last step and one
    stop before the grasp (episode1: 64, 77, 107); each step's target is the first keyframe
    after it, its pose and open state; quaternions unit with w >= 0."""
    for e in range(8):
        state = np.load(data_path('rlbench', 'open_drawer', f'episode{e}',
                                  'cameras_and_state.npz'))
        go, n = state['gripper_open'], len(state['gripper_open'])
        close = int(np.flatnonzero(np.diff(go))[0]) + 1
        kf = find_keyframes(go, state['joint_velocities'])
        assert len(kf) == 3 and kf[1:] == [close, n - 1] and kf[0] < close, (e, kf)
        assert np.allclose(state['joint_velocities'][kf[0]], 0, atol=0.1)
        t = next_keyframe_targets(state['gripper_pose'], go, kf)
        steps = np.arange(n)
        assert (t['target_index'][:-1] > steps[:-1]).all() and t['target_index'][-1] == n - 1
        assert np.isin(t['target_index'], kf).all()
        np.testing.assert_allclose(t['trans'], state['gripper_pose'][t['target_index'], :3],
                                   atol=1e-6)
        assert (t['open'] == (t['target_index'] < close)).all()
        np.testing.assert_allclose(np.linalg.norm(t['quat'], axis=1), 1, atol=1e-5)
        assert (t['quat'][:, 3] >= 0).all()
        if e == 1:
            assert kf == [64, 77, 107]
    with pytest.raises(ValueError, match='must end with the last step'):
        next_keyframe_targets(state['gripper_pose'], go, kf[:-1])


@pytest.fixture(scope='module')
def prepared(tmp_path_factory):
    """Three real episodes prepared in one call of the tool (256 points of the front and
    overhead cameras' clouds, RGB-patch packs)."""
    out = str(tmp_path_factory.mktemp('rlbench_actions'))
    tool = load_tool('robot/prepare_rlbench')
    tool.main([data_path('rlbench', 'open_drawer'), '--episodes', *EPISODES, '--out-dir', out,
               *PREP, '--pack-encoders', 'rgb=RGBPatchEncoder', '--short-side', '128'])
    return out


def test_prepare_many_episodes_skips_finished_ones(prepared, capsys):
    tool = load_tool('robot/prepare_rlbench')
    with pytest.raises(SystemExit, match=r"--episodes \['episode9'\]: not found"):
        tool.main([data_path('rlbench', 'open_drawer'), '--episodes', 'episode9', '--out-dir',
                   prepared])
    tool.main([data_path('rlbench', 'open_drawer'), '--episodes', *EPISODES, '--out-dir',
               prepared, *PREP, '--pack-encoders', 'rgb=RGBPatchEncoder'])
    assert 'episodes=3 prepared=0 skipped_existing=3' in capsys.readouterr().out
    # a finished episode is reused only for the settings that made it
    with pytest.raises(SystemExit, match=r"prepared with other settings \(stored vs asked: "
                                         r"\{'num_points': \(256, 4096\)"):
        tool.main([data_path('rlbench', 'open_drawer'), '--episodes', *EPISODES, '--out-dir',
                   prepared, '--cameras', 'front', 'overhead'])
    for ep in EPISODES:
        act = np.load(actions_path(prepared, 'open_drawer', ep))
        n = len(os.listdir(osp.join(prepared, 'pc_dataset/PC/teacher/open_drawer', ep)))
        assert n == len(act['steps']) == len(act['target_trans']) and n in range(96, 119)
        assert int(act['variation']) in (0, 1, 2)


def test_prepare_keys_packs_by_encoder_and_checks_episodes(prepared, tmp_path, capsys):
    """A finished episode still gets a pack asked for under a new name; a pack name reused
    for another encoder is refused naming both; an episode folder whose images and steps
    disagree, or that lacks cameras_and_state.npz, is named (not an IndexError, not dropped
    silently)."""
    import shutil
    tool = load_tool('robot/prepare_rlbench')
    ep = EPISODES[0]
    tool.main([data_path('rlbench', 'open_drawer'), '--episodes', ep, '--out-dir', prepared,
               *PREP, '--pack-encoders', 'rgb_b=RGBPatchEncoder', '--short-side', '128'])
    assert 'prepared=0 skipped_existing=1' in capsys.readouterr().out
    assert osp.isdir(osp.join(prepared, 'packs', 'rgb_b', 'open_drawer', f'{ep}.zarr'))
    with pytest.raises(SystemExit, match=rf'rgb/open_drawer/{ep}.zarr: made by RGBPatchEncoder '
                                         rf'with 3 channels, .* DINOv2 with 384'):
        tool.main([data_path('rlbench', 'open_drawer'), '--episodes', ep, '--out-dir',
                   prepared, *PREP, '--pack-encoders', 'rgb=DINOv2:vit_small_patch14_dinov2',
                   '--short-side', '56'])
    # a folder of episodes: one copy with an extra image, one without its state file
    src = data_path('rlbench', 'open_drawer', ep)
    eps = tmp_path / 'eps'
    for name, drop_state in (('episode1', False), ('episode2', True)):
        (eps / name).mkdir(parents=True)
        for entry in os.listdir(src):
            if entry == 'front_rgb':
                shutil.copytree(osp.join(src, entry), eps / name / entry)
            elif not (drop_state and entry == 'cameras_and_state.npz'):
                os.symlink(osp.join(src, entry), eps / name / entry)
    n = len(os.listdir(eps / 'episode1' / 'front_rgb'))
    shutil.copy(eps / 'episode1' / 'front_rgb' / '0.png', eps / 'episode1' / 'front_rgb' /
                f'{n}.png')
    with pytest.raises(ValueError, match=rf'episode1: front_rgb holds {n + 1} images, .* {n} '
                                         rf'steps; images without a step: \[{n}\]'):
        tool.main([str(eps), '--out-dir', str(tmp_path / 'out')])
    assert 'episode2: camera images but no cameras_and_state.npz: episode skipped' in \
        capsys.readouterr().err
    # a camera pose that is not rigid (a scaled rotation) is named with its camera and step
    from oneformer3d.robot.preprocessing.rlbench import RLBenchEpisode
    state = dict(np.load(osp.join(src, 'cameras_and_state.npz')))
    state['overhead_extrinsics'] = state['overhead_extrinsics'].copy()
    state['overhead_extrinsics'][5, :3, :3] *= 1.1
    os.remove(eps / 'episode1' / 'front_rgb' / f'{n}.png')
    os.unlink(eps / 'episode1' / 'cameras_and_state.npz')
    np.savez(eps / 'episode1' / 'cameras_and_state.npz', **state)
    with pytest.raises(ValueError, match=r'overhead_extrinsics\[5\]: pose rotation is not '
                                         r'orthonormal'):
        RLBenchEpisode(str(eps / 'episode1'))


def dataset(root, input='pc', episodes=EPISODES[:1], **kw):
    return RLBenchActionDataset(root, episodes, input=input, encoders=dict(rgb=3),
                                num_points=64, token_grid=4, **kw)


def test_inputs_and_errors(prepared, tmp_path):
    pc, packs = dataset(prepared, test_mode=True), dataset(prepared, 'packs')
    s = pc[10]
    assert s['inputs']['points'].shape == (64, 3 + 256) and s['inputs']['proprio'].shape == (8,)
    torch.testing.assert_close(pc[10]['inputs']['points'], s['inputs']['points'])  # test mode
    assert packs[10]['inputs']['tokens']['rgb'].shape == (16, 3)
    ds = s['data_samples']
    assert ds['episode'] == EPISODES[0] and ds['step'] == 10 and ds['target_open'] == 1
    assert len(pc) == len(np.load(actions_path(prepared, 'open_drawer', EPISODES[0]))['steps'])
    # a missing point file / actions file / pack channel count: errors naming the file
    victim = osp.join(prepared, 'pc_dataset/PC/teacher/open_drawer', EPISODES[0],
                      'step_0010.ply.teacher.pt')
    os.rename(victim, victim + '.bak')
    try:
        with pytest.raises(FileNotFoundError, match='step_0010.ply.teacher.pt: no point file'):
            pc[10]
    finally:
        os.rename(victim + '.bak', victim)
    with pytest.raises(FileNotFoundError, match='episode7.npz: no actions file'):
        dataset(prepared, episodes=['episode7'])
    with pytest.raises(ValueError, match=r"rgb/open_drawer/episode1.zarr: 3 channels.*= 5"):
        RLBenchActionDataset(prepared, EPISODES[:1], input='packs', encoders=dict(rgb=5))


def test_proprio_noise_perturbs_only_the_given_hand_position(prepared):
    """``ProprioNoise`` in the pipeline of the real episodes: the hand xyz the policy is given
    moves by N(0, std²) per axis (sample std of all steps within 25 % of 2 cm, mean near 0),
    orientation, open state, scene and targets stay; std 0 changes nothing; a negative std is
    refused."""
    plain = dataset(prepared, test_mode=True)
    noisy = dataset(prepared, test_mode=True,
                    pipeline=[dict(type='ProprioNoise', std=0.02, seed=0)])
    d, n = [], len(plain)
    for i in range(n):
        a, b = plain[i], noisy[i]
        d.append(b['inputs']['proprio'] - a['inputs']['proprio'])
        torch.testing.assert_close(b['inputs']['points'], a['inputs']['points'])
        for key in ('target_trans', 'target_quat', 'target_open', 'trans'):
            torch.testing.assert_close(b['data_samples'][key], a['data_samples'][key])
    d = torch.stack(d)
    assert n > 50 and (d[:, 3:] == 0).all()
    assert ((d[:, :3].std(0) - 0.02).abs() < 0.005).all(), d[:, :3].std(0)
    assert (d[:, :3].mean(0).abs() < 3 * 0.02 / n ** 0.5 + 1e-3).all()
    zero = dataset(prepared, test_mode=True, pipeline=[dict(type='ProprioNoise', std=0.0)])
    torch.testing.assert_close(zero[7]['inputs']['proprio'], plain[7]['inputs']['proprio'])
    with pytest.raises(ValueError, match='std must be >= 0 m, got -0.01'):
        dataset(prepared, pipeline=[dict(type='ProprioNoise', std=-0.01)])


def action_cfg(route, root, train_eps, test_eps, iters, work_dir):
    """A route's config on the prepared episodes with a short schedule."""
    cfg = Config.fromfile(route if route.endswith('.py') else CFG.format(route))
    # no validation inside train(): the tests run the loop once themselves
    cfg.work_dir, cfg.train_cfg.max_iters, cfg.train_cfg.val_interval = work_dir, iters, iters + 1
    cfg.param_scheduler.T_max = iters
    for key, eps in (('train_dataloader', train_eps), ('val_dataloader', test_eps),
                     ('test_dataloader', test_eps)):
        cfg[key].dataset.update(data_root=root, episodes=eps, const_episodes=train_eps,
                                num_points=64)
        cfg[key].dataset.encoders = dict(rgb=3)         # assigned: update() would merge
    if cfg.model.get('token_encoder', {}).get('encoders'):
        cfg.model.token_encoder.encoders = dict(rgb=3)
    cfg.default_hooks.logger.interval = 10
    return cfg


def test_head_on_two_episodes_beats_the_constant_on_a_third(prepared, tmp_path):
    """The ActionHead (the same for every route; here on the proprioception route, the
    cheapest to train — the others are trained in the compare-tool and stage-3 tests), 200
    iterations of 32 steps on two episodes, seed 0: on the held-out episode every metric is
    finite and the next-keyframe position error is well below the constant baseline's (the
    mean training target)."""
    from oneformer3d.engine import Runner
    cfg = action_cfg('proprio', prepared, EPISODES[:2], EPISODES[2:], 200,
                     str(tmp_path / 'proprio'))
    runner = Runner.from_cfg(cfg)
    runner.train()
    m = runner.val_loop.run()
    print(m)
    assert m['trans_err_cm'] < 0.8 * m['const_trans_err_cm'], m
    assert 0 <= m['rot_err_deg'] < 180 and 0.5 < m['gripper_acc'] <= 1.0, m
    assert 'kf_trans_err_cm' in m and np.isfinite(list(m.values())).all()


def test_rgb_aligned_takes_the_stage1_adapters_frozen(prepared, tmp_path):
    """rgb_aligned: the adapters of a stage-1 RGBPointAligner checkpoint (built from the stage-1
    config) are loaded under the token encoder and stay fixed while the head trains; rgb_raw
    (the control) trains them; a checkpoint without the encoder is an error naming it."""
    stage1 = Config.fromfile(osp.join(REPO, 'configs/robot/align_point_patch_rlbench.py'))
    stage1.model.encoders = dict(rgb=3)
    torch.manual_seed(3)
    aligner = MODELS.build(stage1.model)
    ckpt = str(tmp_path / 'stage1.pth')
    torch.save(dict(state_dict=aligner.state_dict()), ckpt)
    cfg = Config.fromfile(CFG.format('rgb_aligned'))
    cfg.model.token_encoder.checkpoint = ckpt
    cfg.dump(str(tmp_path / 'aligned.py'))
    CFG_ALIGNED = str(tmp_path / 'aligned.py')
    from oneformer3d.engine import Runner
    runner = Runner.from_cfg(action_cfg(CFG_ALIGNED, prepared, EPISODES[:1], EPISODES[2:], 5,
                                        str(tmp_path / 'aligned')))
    runner.train()
    enc = runner.model.token_encoder
    for k, v in aligner.adapters.state_dict().items():
        torch.testing.assert_close(enc.adapters.state_dict()[k], v, msg=k)
    assert not any(p.requires_grad for p in enc.adapters.parameters())
    assert enc.proj.weight.requires_grad
    bad = dict(aligner.state_dict())
    bad = {k: v for k, v in bad.items() if not k.startswith('adapters.rgb.')}
    torch.save(dict(state_dict=bad), tmp_path / 'bad.pth')
    with pytest.raises(ValueError, match=r"bad.pth: no adapters.rgb.\* tensors"):
        MODELS.build(dict(cfg.model.token_encoder, checkpoint=str(tmp_path / 'bad.pth')))


def test_pack_written_without_this_package_loads_by_name(prepared, tmp_path):
    """A pack written by docs/examples/write_external_pack.py in an isolated interpreter
    (``python -I``: only numpy / zarr / Pillow, nothing of ours), as zarr v3 and v2 (what a
    numpy<2 environment with zarr 2 writes), loads by its name: the action dataset's tokens
    and the verify tool; its frames pair with the point files by step."""
    import subprocess
    import sys
    from oneformer3d.robot.datasets.feature_packs import FeaturePack
    frames = osp.join(prepared, 'rgb_dataset', 'RGB', 'open_drawer', EPISODES[0])
    for fmt, name in ((3, 'ext3'), (2, 'ext2')):
        out = osp.join(prepared, 'packs', name, 'open_drawer', f'{EPISODES[0]}.zarr')
        res = subprocess.run([sys.executable, '-I', osp.join(REPO, 'docs', 'examples',
                                                             'write_external_pack.py'),
                              frames, out, '--name', name, '--zarr-format', str(fmt)],
                             capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
        assert res.returncode == 0, res.stderr[-2000:]
        pack = FeaturePack(out)
        n = len(os.listdir(frames))
        assert pack.shape[2:] == (16, 16, 6) and len(pack.steps) == n
        assert pack.meta['encoder'] == name and pack.meta['stride'] == [8.0, 8.0]
        ds = RLBenchActionDataset(prepared, EPISODES[:1], input='packs',
                                  encoders={name: 6, 'rgb': 3}, token_grid=4)
        tok = ds[5]['inputs']['tokens'][name]
        assert tok.shape == (16, 6) and torch.isfinite(tok).all() and tok[:, :3].max() <= 1
    rc, log = call_tool('verify_saved_features', osp.join(prepared, 'packs'), '--packs')
    assert rc == 0 and 'corrupt=0' in log, log


def test_student_distillation_and_export(prepared, tmp_path):
    """Stage 3 on real frames: the teacher's encoders on the raw frame give the pack tokens
    the policy was trained on (fp16 storage aside); the distiller trains the student from a
    stage-2 checkpoint (teacher frozen: its weights unchanged); the TorchScript export matches
    the eager student and runs in an interpreter that imports only torch."""
    import subprocess
    import sys
    from oneformer3d.engine import Runner
    cfg = Config.fromfile(CFG.format('rgb_raw'))
    cfg.model.token_encoder.encoders = dict(rgb=3)
    torch.manual_seed(0)
    policy = MODELS.build(cfg.model)
    ckpt = str(tmp_path / 'policy.pth')
    torch.save(dict(state_dict=policy.state_dict()), ckpt)
    dcfg = action_cfg(osp.join(REPO, 'configs/robot/deploy_student_rlbench.py'), prepared,
                      EPISODES[:1], EPISODES[2:], 8, str(tmp_path / 'student'))
    dcfg.model.teacher.update(policy_checkpoint=ckpt)
    dcfg.model.teacher.encoders = dict(rgb=dict(type='RGBPatchEncoder', short_side=128))
    dcfg.model.teacher.token_encoder.encoders = dict(rgb=3)
    dcfg.model.student.num_groups = 1
    dcfg.train_dataloader.batch_size = 16
    runner = Runner.from_cfg(dcfg)
    teacher = runner.model.teacher
    packs = dataset(prepared, 'packs')
    images = torch.stack([dataset(prepared, 'image')[i]['inputs']['image'] for i in (3, 40)])
    online = teacher.pack_tokens(images)['rgb']
    stored = torch.stack([packs[i]['inputs']['tokens']['rgb'] for i in (3, 40)])
    torch.testing.assert_close(online, stored, atol=2e-3, rtol=2e-3)
    torch.testing.assert_close(teacher.token_encoder.proj.weight,
                               policy.token_encoder.proj.weight)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    runner.train()
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k]), k
    m = runner.val_loop.run()
    assert np.isfinite(m['trans_err_cm']) and m['const_trans_err_cm'] > 0
    # distillation through the head: a student giving the teacher's tokens leaves only the
    # open state's soft-target BCE, i.e. the Bernoulli entropy of the teacher's probability
    model = runner.model
    data = model.data_preprocessor(next(iter(runner.train_dataloader)), True)
    inputs = data['inputs']
    model.loss_weights['head'] = 2.0
    with torch.no_grad():
        t = model.teacher_tokens(inputs)
        p = model.teacher.head(inputs['proprio'].float(), t)['open_logit'].sigmoid().double()
        entropy = -(p * p.log() + (1 - p) * (1 - p).log()).mean()
        trained = model(inputs, mode='loss')
        model.student.forward = lambda images: t
        same = model(inputs, mode='loss')
    assert same['loss_cos'] < 1e-6 and same['loss_nmse'] < 1e-6
    assert abs(same['loss_head'].item() - 2 * entropy.item()) < 1e-4
    assert trained['loss_head'] > same['loss_head'] + 1e-3
    del model.student.forward
    out = str(tmp_path / 'student.ts')
    with open(tmp_path / 'student.py', 'w') as fh:
        fh.write(dcfg.pretty_text)
    rc, log = call_tool('robot/export_student', tmp_path / 'student.py',
                        tmp_path / 'student' / 'iter_8.pth', '--out', out, '--frames',
                        osp.join(prepared, 'rgb_dataset/RGB/open_drawer', EPISODES[2]))
    assert rc == 0 and 'max_abs_diff=' in log, log
    code = ('import sys, torch; m = torch.jit.load(sys.argv[1]); '
            'y = m(torch.zeros(2, 3, 128, 128, dtype=torch.uint8)); print(tuple(y.shape))')
    res = subprocess.run([sys.executable, '-I', '-c', code, out], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == '(2, 16, 128)', res.stderr[-2000:]
    # the export is for a trained student: none given is an error; a checkpoint whose student
    # has another shape is refused naming the file and the key
    rc, log = call_tool('robot/export_student', tmp_path / 'student.py', '--out', out)
    assert rc != 0 and 'give its distiller checkpoint (or --random-init' in log
    ckpt = torch.load(tmp_path / 'student' / 'iter_8.pth', map_location='cpu',
                      weights_only=True)
    key = next(k for k, v in ckpt['state_dict'].items()
               if k.startswith('student.') and v.dim() == 2)
    ckpt['state_dict'][key] = ckpt['state_dict'][key][:, :1].clone()
    torch.save(ckpt, tmp_path / 'other.pth')
    with pytest.raises(ValueError, match=rf'other.pth \(student.\*\): loaded \d+ tensors.*\n'
                                         rf'(.*\n)*  shape-mismatched: {key[8:]}'):
        call_tool('robot/export_student', tmp_path / 'student.py', tmp_path / 'other.pth',
                  '--out', out)


def test_compare_tool_prints_one_line_per_input_and_the_table(prepared, tmp_path):
    """tools/robot/compare_action_inputs.py on a split given by flags (3 iterations per input):
    one ``input=...`` line per input, one table, md / csv / png written; ``--pc-norm`` reaches
    the pc run only (its checkpoint holds the norm's running statistics)."""
    work = tmp_path / 'cmp'
    rc, log = call_tool('robot/compare_action_inputs', '--data-root', prepared, '--inputs', 'pc',
                        'proprio', 'rgb_raw', '--train-episodes', *EPISODES[:2], '--test-episodes',
                        EPISODES[2], '--encoders', 'rgb=3', '--iters', '3', '--work-root', work,
                        '--pc-norm', 'BN1d')
    assert rc == 0, log[-3000:]
    for name, has_norm in (('pc', True), ('rgb_raw', False)):
        run = work / f'action_head_rlbench_{name}'
        state = torch.load((run / 'last_checkpoint').read_text().strip(),
                           map_location='cpu')['state_dict']
        assert ('token_encoder.norm.running_mean' in state) == has_norm, name
    assert 'norm_cfg' in (work / 'action_head_rlbench_pc' / 'action_head_rlbench_pc.py').read_text()
    lines = [x for x in log.splitlines() if x.startswith('input=')]
    assert [x.split()[0] for x in lines] == ['input=pc', 'input=proprio', 'input=rgb_raw']
    assert all('const_trans_err_cm=' in x for x in lines)
    assert "train ['episode1', 'episode2'] -> test ['episode5']" in log
    for ext in ('md', 'csv', 'png'):
        assert (work / f'compare_actions.{ext}').stat().st_size > 0
    rc, log = call_tool('robot/compare_action_inputs', '--data-root', prepared, '--train-episodes',
                        EPISODES[0], '--test-episodes', EPISODES[0])
    assert rc == 1 and 'episodes in both splits' in log


def test_splits_never_leak_wherever_they_come_from(prepared, tmp_path):
    """The README's way to set a split (train.py --cfg-options ...episodes=[...]): a training
    episode in the held-out list, a constant baseline on other episodes than the training
    ones, a duplicated or an empty list — each stops before training, naming it."""
    import copy
    from oneformer3d.engine import Runner
    cfg = action_cfg('pc', prepared, EPISODES[:2], EPISODES[2:3], 1, str(tmp_path / 'w'))
    leak = copy.deepcopy(cfg)
    leak.val_dataloader.dataset.episodes = [EPISODES[2], EPISODES[0]]
    with pytest.raises(ValueError, match=rf"val_dataloader.dataset.episodes shares "
                                         rf"\['{EPISODES[0]}'\] with train_dataloader"):
        Runner.from_cfg(leak)
    const = copy.deepcopy(cfg)
    const.train_dataloader.dataset.episodes = EPISODES[:1]
    with pytest.raises(ValueError, match='const_episodes .* are not the training episodes'):
        Runner.from_cfg(const)
    with pytest.raises(ValueError, match=rf"episodes=...\): \['{EPISODES[0]}'\] listed more "
                                         rf"than once"):
        RLBenchActionDataset(prepared, [EPISODES[0], EPISODES[1], EPISODES[0]])
    with pytest.raises(ValueError, match=r'episodes=...\): the split is empty'):
        RLBenchActionDataset(prepared, [])


def test_scene_sensitivity_tool_tells_a_scene_blind_head(prepared, tmp_path):
    """``scene_sensitivity.py`` on heads saved as finished runs over two real episodes: the
    ``proprio`` head and a ``pc`` head made blind by construction (its token encoder's output
    LayerNorm zeroed: every scene gives the same tokens) change by exactly 0 under the swap;
    the same ``pc`` head with its LayerNorm intact changes, and its line gives the mean
    distance of the targets from the hand."""
    import re
    runs = {}
    for name, blind in (('proprio', False), ('pc', False), ('pc', True)):
        cfg = action_cfg(name, prepared, EPISODES[:2], EPISODES[2:], 1, str(tmp_path))
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        if blind:
            torch.nn.init.zeros_(model.token_encoder.net[-1].weight)
            torch.nn.init.zeros_(model.token_encoder.net[-1].bias)
        run = tmp_path / f'{name}{"_blind" if blind else ""}'
        run.mkdir()
        cfg.dump(str(run / 'policy.py'))
        torch.save(dict(state_dict=model.state_dict()), str(run / 'iter_1.pth'))
        (run / 'last_checkpoint').write_text(str(run / 'iter_1.pth'))
        runs[run.name] = f'{name}={run}'
    rc, log = call_tool('robot/scene_sensitivity', '--runs', *runs.values(), '--stride', '10')
    assert rc == 0, log
    lines = re.findall(r'input=(\w+) scene_swap_change_cm=([\d.]+) pred_err_cm=([\d.]+) '
                       r'target_offset_cm=([\d.]+) ratio=([\d.]+) steps=(\d+)', log)
    assert len(lines) == 3, log
    (_, c_prop, _, off, _, n), (_, c_pc, *_), (_, c_blind, *_) = lines
    assert float(c_prop) == 0 and float(c_blind) == 0 and float(c_pc) > 0.01, lines
    assert float(off) > 1 and int(n) > 5, lines
