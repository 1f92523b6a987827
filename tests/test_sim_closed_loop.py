"""The closed-loop path end to end on Meta-World (the smoke test of the sim benchmark): two
scripted demos -> prepare -> a tiny stage-2 head -> two rollouts; resumption, the result line
and the bad inputs of each tool."""
import json
import os.path as osp
import re

import numpy as np
import pytest
import torch

import oneformer3d.robot.sim  # noqa: F401  (chooses the OpenGL backend before mujoco loads)
from oneformer3d.robot.sim.closed_loop import wilson_interval
from .conftest import call_tool, load_tool, tool_ok

TASK = 'drawer-open-v3'
WS = ['-0.55', '0.55', '0.3', '1.05', '0.01', '0.6']


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """2 demos (seeds 0, 1), prepared (point files, no packs), a 10-iteration pc head."""
    root = tmp_path_factory.mktemp('sim')
    demos, data, work = root / 'demos', root / 'data', root / 'work'
    log = tool_ok('robot/collect_sim_demos', '--task', TASK, '--seeds', '0-1',
                  '--out-dir', demos, '--max-steps', 150)
    tool_ok('robot/prepare_rlbench', demos / TASK, '--out-dir', data, '--task', TASK,
            '--anchor', 'corner2', '--cameras', 'corner2', 'corner3', '--workspace', *WS,
            '--num-points', 1024)
    tool_ok('robot/compare_action_inputs', '--data-root', data, '--task', TASK,
            '--train-episodes', 'episode0', '--test-episodes', 'episode1', '--inputs', 'pc',
            '--iters', 10, '--work-root', work)
    return dict(demos=demos, data=data, work=work, log=log)


def test_demos_in_the_rlbench_layout(trained):
    assert 'written=2 skipped_existing=0 expert_failures=0' in trained['log']
    ep = trained['demos'] / TASK / 'episode1'
    meta = json.loads((ep / 'episode.json').read_text())
    state = np.load(ep / 'cameras_and_state.npz')
    n = meta['steps']
    assert meta['success'] and meta['seed'] == 1 and 50 < n < 150
    for cam in ('corner2', 'corner3'):
        assert len(list((ep / f'{cam}_rgb').glob('*.png'))) == n
        assert len(list((ep / f'{cam}_depth').glob('*.png'))) == n
        assert state[f'{cam}_extrinsics'].shape == (n, 4, 4)
    assert state['gripper_pose'].shape == (n, 7) and state['expert_actions'].shape == (n, 4)
    # the expert moved the hand (> 10 cm) to open the drawer; quaternions are unit length
    pose = state['gripper_pose']
    assert np.linalg.norm(pose[-1, :3] - pose[0, :3]) > 0.1
    np.testing.assert_allclose(np.linalg.norm(pose[:, 3:], axis=1), 1.0, atol=1e-5)
    # the prepare tool used the episode's keyframes and made the next-keyframe targets
    act = np.load(trained['data'] / 'actions' / TASK / 'episode1.npz')
    np.testing.assert_array_equal(act['keyframes'], state['keyframes'])
    last = act['target_index'] == n - 1
    np.testing.assert_allclose(act['target_trans'][last] - state['gripper_pose'][-1, :3], 0,
                               atol=1e-6)
    pts = torch.load(trained['data'] / 'pc_dataset/PC/teacher' / TASK / 'episode1' /
                     'step_0000.ply.teacher.pt', weights_only=True)['pc']
    lo, hi = np.array(WS[0::2], float), np.array(WS[1::2], float)
    assert len(pts) > 512 and ((pts[:, :3].numpy() >= lo) & (pts[:, :3].numpy() <= hi)).all()


def test_collect_resumes_and_refuses_other_settings(trained):
    rc, log = call_tool('robot/collect_sim_demos', '--task', TASK, '--seeds', '0-1',
                        '--out-dir', trained['demos'], '--max-steps', 150)
    assert rc == 0 and 'written=0 skipped_existing=2' in log
    rc, log = call_tool('robot/collect_sim_demos', '--task', TASK, '--seeds', '0',
                        '--out-dir', trained['demos'], '--max-steps', 150, '--image-size', 64)
    assert rc != 0 and "'image_size': (96, 64)" in log


def test_closed_loop_line_strip_and_reuse(trained, capsys):
    """The benchmark's closed-loop step (eval_closed_loop.py per run, the expert once per task):
    the result line, one JSONL record per rollout, the strip; run again, every cell is reused."""
    bench = load_tool('robot/sim_benchmark')
    root = trained['data'].parent
    run = trained['work'] / 'action_head_rlbench_pc'
    args = bench.parse_args(['--tasks', TASK, '--work-root', str(root), '--eval-seeds',
                             '100-101', '--max-steps', '25', '--gain', '10'])
    rows = bench.closed_loop(args, TASK, 0, {'pc': str(run)})
    log = capsys.readouterr().out
    assert [(r['input'], r['trials'], r['seed']) for r in rows] == [('expert', 2, 0),
                                                                      ('pc', 2, 0)]
    m = re.search(r'task=drawer-open-v3 input=pc success=(\d)/2 ci95=\[([\d.]+),([\d.]+)\] '
                  r'mean_steps=([\d.]+) policy_ms=([\d.]+) empty_cloud_steps=0 gain=10\n', log)
    assert m, log
    k = int(m.group(1))
    lo, hi = wilson_interval(k, 2)
    assert (float(m.group(2)), float(m.group(3))) == (round(lo, 2), round(hi, 2))
    assert 0 < float(m.group(4)) <= 25 and float(m.group(5)) > 0
    out = root / TASK / 'seed0' / 'closed_loop' / 'action_head_rlbench_pc'
    records = [json.loads(x) for x in (out / f'closed_loop_{TASK}.jsonl').open()]
    assert [r['seed'] for r in records] == [100, 101]
    assert osp.isfile(out / f'strip_{TASK}_pc.png')
    again = bench.closed_loop(args, TASK, 0, {'pc': str(run)})
    log = capsys.readouterr().out
    assert again == rows and log.count('(reused)') == 2 and '$ ' not in log, log
    bench.report(args, rows)                  # the benchmark's own table of these rows
    e = round(100 * rows[0]['rate'])
    table = (root / 'sim_benchmark.md').read_text()
    assert f'| {TASK} | {e} [{e}–{e}] | {50 * k} [{50 * k}–{50 * k}] | – | – | – |' in table
    # the report tool reads back what the benchmark stored: the same success, the expert's
    # row, and a note that this root's training request (made outside the benchmark) is absent
    rc, log = call_tool('robot/sim_report', root)
    assert rc == 0, log
    assert f'| {TASK} | {e} [{e}–{e}] | {50 * k} [{50 * k}–{50 * k}] |' in log, log
    assert 'cells=2 ' in log and 'eval_seeds=100-101 max_steps=25 gain=10' in log
    assert 'note=no_training_request' in log and 'suite_tasks=drawer-open-v3 rule=all_tasks' in log


def test_empty_cloud_is_counted_not_a_crash(trained):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from oneformer3d.robot.sim.closed_loop import SimPolicy, rollout
    from oneformer3d.robot.sim.metaworld_env import MetaWorldTask
    init_default_scope('oneformer3d')
    run = trained['work'] / 'action_head_rlbench_pc'
    cfg = Config.fromfile(str(next(run.glob('*.py'))))
    policy = SimPolicy('pc', cfg, str(next(run.glob('iter_*.pth'))), str(trained['data']))
    policy.workspace = [5.0, 6.0, 5.0, 6.0, 5.0, 6.0]        # nothing of the scene inside
    sim = MetaWorldTask(TASK, cameras=('corner2', 'corner3'), image_size=96, max_steps=5)
    try:
        r = rollout(sim, policy, seed=200)
    finally:
        sim.close()
    assert r['empty_cloud_steps'] == r['steps'] == 5 and not r['success']


def test_eval_refuses_bad_requests(trained):
    runs = f"pc={trained['work'] / 'action_head_rlbench_pc'}"
    rc, log = call_tool('robot/eval_closed_loop', '--task', TASK, '--data-root',
                        trained['data'], '--runs', runs, '--eval-seeds', '1-3')
    assert rc != 0 and 'evaluation seeds [1]' in log and 'seeds of the demos' in log
    rc, log = call_tool('robot/eval_closed_loop', '--task', 'drawer-opne-v3', '--data-root',
                        trained['data'], '--runs', runs, '--eval-seeds', '100-101')
    assert rc != 0 and 'unknown Meta-World task' in log and 'drawer-open-v3' in log
    rc, log = call_tool('robot/eval_closed_loop', '--task', 'reach-v3', '--data-root',
                        trained['data'], '--runs', runs, '--eval-seeds', '100-101')
    assert rc != 0 and "no prepared frames of task 'reach-v3'" in log


def test_a_head_refuses_another_inputs_features():
    from oneformer3d.robot.models.policy.token_encoders import (PackTokenEncoder,
                                                                 PointTokenEncoder)
    enc = PointTokenEncoder(in_channels=3 + 256)
    with pytest.raises(ValueError, match=r'trained on points \(B, K, 259\).*'
                                         r'points of shape \(1, 512, 387\)'):
        enc(dict(points=torch.zeros(1, 512, 387)))
    with pytest.raises(ValueError, match=r"got inputs \['proprio', 'tokens'\]"):
        enc(dict(proprio=torch.zeros(1, 8), tokens={'rgb': torch.zeros(1, 16, 3)}))
    packs = PackTokenEncoder(dict(rgb=3, dino_s=384))
    with pytest.raises(ValueError, match=r"'dino_s': 384.*'dino_s': \(1, 16, 256\)"):
        packs(dict(tokens={'rgb': torch.zeros(1, 16, 3), 'dino_s': torch.zeros(1, 16, 256)}))


def test_wilson_interval_published_values():
    # Wilson 95 % intervals as tabulated (e.g. statsmodels proportion_confint(method='wilson')):
    # 0/10 -> [0, 0.2775], 5/10 -> [0.2366, 0.7634], 20/20 -> [0.8389, 1]
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(20, 20) == pytest.approx((0.8389, 1.0), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_benchmark_refuses_overlapping_seeds_and_unknown_tasks():
    rc, log = call_tool('robot/sim_benchmark', '--tasks', TASK, '--train-demos', 40,
                        '--eval-seeds', '30-49', '--work-root', 'unused')
    assert rc != 0 and 'overlaps the demo seeds 0-39' in log
    rc, log = call_tool('robot/sim_benchmark', '--tasks', 'push-v9', '--eval-seeds', '100-101',
                        '--work-root', 'unused')
    assert rc != 0 and "unknown Meta-World task 'push-v9'" in log
    rc, log = call_tool('robot/sim_benchmark', '--tasks', TASK, '--inputs', 'student',
                        '--eval-seeds', '100-101', '--work-root', 'unused')
    assert rc != 0 and 'add rgb_aligned' in log


def test_expert_action_targets_replay_the_demo(trained):
    """target='expert_action' (dense behaviour cloning): the prepared actions file carries the
    demo's actions and Meta-World's action scale; the dataset's targets, sent through the
    controller at gain 1 / action_scale, give back the actions the environment executed, and
    their gripper state is the one the simulator recorded at the next step."""
    from oneformer3d.robot.datasets.rlbench_action_dataset import RLBenchActionDataset
    state = np.load(trained['demos'] / TASK / 'episode1' / 'cameras_and_state.npz')
    act = np.load(trained['data'] / 'actions' / TASK / 'episode1.npz')
    np.testing.assert_array_equal(act['expert_actions'], state['expert_actions'])
    assert float(act['action_scale']) == 0.01         # metaworld SawyerXYZEnv.action_scale
    ds = RLBenchActionDataset(str(trained['data']), ['episode1'], input='proprio', task=TASK,
                              target='expert_action')
    samples = [ds[i]['data_samples'] for i in range(len(ds))]
    delta = np.stack([(s['target_trans'] - s['trans']).numpy() for s in samples])
    executed = np.clip(state['expert_actions'][:, :3], -1, 1)       # the env clips actions
    np.testing.assert_allclose(np.clip(delta / 0.01, -1, 1), executed, atol=1e-3)
    assert np.abs(executed).max() == 1.0            # saturated steps are part of the check
    opened = np.array([float(s['target_open']) for s in samples])
    np.testing.assert_array_equal(opened[:-1], state['gripper_open'][1:])
    keyframe = RLBenchActionDataset(str(trained['data']), ['episode1'], input='proprio',
                                    task=TASK)[0]['data_samples']
    assert torch.linalg.norm(keyframe['target_trans'] - keyframe['trans']) > 0.05
    bare = trained['data'].parent / 'bare'
    (bare / 'actions' / TASK).mkdir(parents=True)
    np.savez(bare / 'actions' / TASK / 'episode1.npz',
             **{k: act[k] for k in act.files if k not in ('expert_actions', 'action_scale')})
    with pytest.raises(KeyError, match=r'episode1\.npz: no .*expert_actions.*action_scale.*'
                                       r'collect_sim_demos'):
        RLBenchActionDataset(str(bare), ['episode1'], input='proprio', task=TASK,
                             target='expert_action')


def test_expert_action_controller_replays_the_expert(trained):
    """A perfect expert-action head (the live expert's action made a target by the rule's own
    function, with the simulator's action scale) under the controller at the gain the rule
    fixes (read from the prepared data) moves the hand exactly as the expert does."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from oneformer3d.robot.preprocessing.action_targets import expert_action_targets
    from oneformer3d.robot.sim.closed_loop import ExpertPolicy, SimPolicy, rollout
    from oneformer3d.robot.sim.metaworld_env import MetaWorldTask
    init_default_scope('oneformer3d')
    run = trained['work'] / 'action_head_rlbench_pc'
    cfg = Config.fromfile(str(next(run.glob('*.py'))))
    ckpt = str(next(run.glob('iter_*.pth')))
    assert SimPolicy('pc', cfg, ckpt, str(trained['data'])).gain is None
    cfg.train_dataloader.dataset.target = 'expert_action'
    gain = SimPolicy('pc', cfg, ckpt, str(trained['data'])).gain
    assert gain == pytest.approx(100.0)
    sim = MetaWorldTask(TASK, cameras=('corner2',), image_size=32, max_steps=120)
    hands = []

    def perfect(obs, rng):
        hands.append(obs['gripper_pose'][:3])
        t = expert_action_targets(obs['gripper_pose'][None], sim.expert_action()[None],
                                  sim.action_scale)
        return dict(trans=t['trans'][0].astype(np.float64), open_prob=float(t['open'][0]))

    try:
        replay = rollout(sim, perfect, seed=300, gain=gain)
        replayed, hands = np.stack(hands), []
        expert = rollout(sim, lambda obs, rng: (hands.append(obs['gripper_pose'][:3]),
                                                ExpertPolicy(sim)(obs, rng))[1], seed=300)
    finally:
        sim.close()
    assert replay['success'] and expert['success'] and replay['steps'] == expert['steps']
    np.testing.assert_allclose(replayed, np.stack(hands), atol=1e-6)
