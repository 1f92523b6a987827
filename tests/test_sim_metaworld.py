"""The Meta-World simulation source (oneformer3d/robot/sim): camera geometry against MuJoCo's
own renderer, seeding, the RLBench depth encoding, bad input."""
import os
import subprocess
import sys

import numpy as np
import pytest

import oneformer3d.robot.sim  # noqa: F401  (chooses the OpenGL backend before mujoco loads)
from oneformer3d.geometry import backproject_depth, project_points
from oneformer3d.robot.preprocessing.rlbench import decode_depth
from oneformer3d.robot.sim.demos import encode_depth, sim_keyframes
from oneformer3d.robot.sim.metaworld_env import MetaWorldTask


@pytest.fixture(scope='module')
def drawer():
    sim = MetaWorldTask('drawer-open-v3', cameras=('corner2', 'corner3'), image_size=96)
    yield sim
    sim.close()


def _site_pixels(sim, camera, site):
    """Pixels MuJoCo's segmentation pass gives to ``site`` in ``camera``."""
    import mujoco
    r = sim.cameras.renderer
    r.enable_segmentation_rendering()
    r.update_scene(sim.env.data, camera=camera)
    seg = r.render()
    r.disable_segmentation_rendering()
    sid = sim.env.model.site(site).id
    return (seg[..., 0] == sid) & (seg[..., 1] == int(mujoco.mjtObj.mjOBJ_SITE))


@pytest.mark.parametrize('camera', ['corner2', 'corner3'])
def test_site_projects_and_backprojects(drawer, camera):
    """The goal site (a 2 cm sphere at a known world position): our intrinsic/pose put it on
    the pixels MuJoCo rendered it to (within 1 px), and its rendered depth back-projects onto
    its surface (within 1 cm)."""
    obs = drawer.reset(0)
    frame = obs['frames'][camera]
    centre = drawer.env.data.site('goal').xpos.copy()
    radius = float(drawer.env.model.site('goal').size[0])
    mask = _site_pixels(drawer, camera, 'goal')
    assert mask.sum() >= 3, f'the goal site is not visible from {camera}'
    v, u = np.nonzero(mask)
    uv, z = project_points(centre[None], frame['intrinsic'], frame['pose'])
    assert z[0] > 0
    assert np.hypot(u.mean() - uv[0, 0], v.mean() - uv[0, 1]) < 1.0
    depth = np.where(mask, frame['depth'], 0.0)
    xyz, _ = backproject_depth(depth, frame['intrinsic'], frame['pose'], min_depth=0.01)
    dist = np.linalg.norm(xyz - centre, axis=1)
    assert np.abs(dist - radius).max() < 0.01
    # a wrong convention (OpenGL's -z view axis kept) would put the site behind the camera
    flipped = frame['pose'] @ np.diag([1.0, -1.0, -1.0, 1.0])
    assert project_points(centre[None], frame['intrinsic'], flipped)[1][0] < 0


def test_seed_fixes_the_layout(drawer):
    a = drawer.reset(3)['frames']['corner2']['depth']
    drawer_pos = drawer.env._get_pos_objects().copy()
    b = drawer.reset(4)['frames']['corner2']['depth']
    assert not np.allclose(drawer.env._get_pos_objects(), drawer_pos)
    assert np.abs(a - b).max() > 0.01
    c = drawer.reset(3)['frames']['corner2']['depth']
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(drawer.env._get_pos_objects(), drawer_pos)


def test_depth_encoding_roundtrip(drawer):
    frame = drawer.reset(0)['frames']['corner3']
    png = encode_depth(frame['depth'], frame['near'], frame['far'])
    back = decode_depth(png, frame['near'], frame['far'])
    hit = frame['depth'] > 0
    assert hit.mean() > 0.5
    assert np.abs(back[hit] - frame['depth'][hit]).max() < 1e-4      # 117 m / 2^24 = 7 um
    assert (back[~hit] >= frame['far'] - 1e-3).all()                 # background -> far


def test_sim_keyframes_rule():
    """Hand-built expert commands: +x for 10 steps, then +z (a 90-degree turn at step 10), a
    close command at 14, a jitter at 16-17 below min_command (no direction), -y from 20 (a
    turn 6 steps after the last keyframe), a wobble at 22-23 (2-3 steps after: ignored)."""
    n = 30
    act = np.zeros((n, 4))
    act[:, 3] = -1
    act[:10, 0] = 1
    act[10:20, 2] = 1
    act[14:, 3] = 1                               # the gripper closes at step 14
    act[16:18, :3] = [0.01, 0.0, 0.0]             # too small to be a direction
    act[20:, 1] = -1
    act[22, :3] = [1, 0, 0]                        # a wobble 2 steps after the last turn
    go = (act[:, 3] <= 0).astype(float)
    assert sim_keyframes(act, go) == [10, 14, 20, 29]
    assert sim_keyframes(act, go, min_gap=1) == [10, 14, 20, 22, 23, 29]
    with pytest.raises(ValueError, match='min_gap'):
        sim_keyframes(act, go, min_gap=0)


def test_unknown_task_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown Meta-World task 'drawer-opne-v3'.*"
                                         r"drawer-open-v3.*push-v3"):
        MetaWorldTask('drawer-opne-v3')


def test_unknown_camera_names_the_cameras():
    with pytest.raises(KeyError, match=r"no camera 'front'.*corner2"):
        MetaWorldTask('reach-v3', cameras=('front',))


def test_no_backend_names_mujoco_gl_and_packages():
    code = 'import oneformer3d.robot.sim'
    env = dict(os.environ, MUJOCO_GL='nonexistent-backend')
    env.pop('ONEFORMER3D_MUJOCO_GL_OK', None)
    res = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode != 0
    assert 'MUJOCO_GL=nonexistent-backend' in res.stderr
    assert 'libegl-mesa0' in res.stderr and 'libosmesa6' in res.stderr
