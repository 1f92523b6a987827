import os
import os.path as osp
import subprocess
import sys

# One OpenMP thread in the test process, set before torch / MinkowskiEngine load their OpenMP
# runtimes: MinkowskiEngine's CPU convolutions are not bitwise repeatable with more threads
# (two forward passes of one model differ by ~1e-5), and several tests assert bit-exact
# equality (zero-initialised modules are the identity, voxels without a projection take
# exactly the 3D path). ``torch.set_num_threads`` does not reach MinkowskiEngine's runtime.
# Tools run in subprocesses choose their own count (``run_script(threads=...)``).
os.environ['OMP_NUM_THREADS'] = '1'

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA_ROOT = os.environ.get('ONEFORMER3D_DATA', osp.join(REPO, '..', 'shared', 'data'))


def pytest_configure(config):
    """An explicitly set ONEFORMER3D_DATA that does not exist is a mistake, not a reason to
    skip every real-data test: stop the run and say so. (Unset, the default folder may be
    absent; the tests that need it are then skipped with that reason.)"""
    explicit = os.environ.get('ONEFORMER3D_DATA')
    if explicit is not None and not osp.isdir(explicit):
        raise pytest.UsageError(f'ONEFORMER3D_DATA={explicit} is not a folder; point it at the '
                                f'shared data folder or unset it')


def run_script(args, threads=2, timeout=600):
    """Run ``python <args>`` (a tool, or ``-m torch.distributed.run ...``) with the repository
    on PYTHONPATH and ``threads`` OpenMP threads; asserts exit 0 with the output's tail.
    One thread makes CPU training bitwise repeatable (multi-threaded scatter sums are not)."""
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS=str(threads))
    res = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                         timeout=timeout)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    return res


def load_tool(name):
    """``tools/<name>.py`` as a module (``name`` may name a sub-folder: ``robot/export_student``;
    its functions called in-process, no ``sys.path`` change)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(f'tools_{name.replace("/", "_")}',
                                                  osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def call_tool(name, *args):
    """``tools/<name>.py``'s ``main(args)`` in this process (no interpreter start-up):
    ``(exit status, stdout + stderr)``; a ``SystemExit`` gives its code."""
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            rc = load_tool(name).main([str(a) for a in args]) or 0
        except SystemExit as err:
            rc = err.code if isinstance(err.code, int) else 1
            buf.write(str(err.code) if not isinstance(err.code, int) else '')
    return rc, buf.getvalue()


def tool_ok(name, *args) -> str:
    """:func:`call_tool` that must succeed (a fixture's data preparation); returns the log."""
    rc, log = call_tool(name, *args)
    assert rc == 0, f'tools/{name}.py {" ".join(map(str, args))} failed:\n{log[-4000:]}'
    return log


def data_path(*parts):
    """Path under the shared real-data folder (env ONEFORMER3D_DATA); skips the test with a
    clear reason when the folder is absent."""
    path = osp.join(DATA_ROOT, *parts)
    if not osp.exists(path):
        pytest.skip(f'real data not found at {path} (set ONEFORMER3D_DATA to the shared data '
                    f'folder)')
    return path


@pytest.fixture(scope='session')
def scannet_scene():
    """Real ScanNet scene0000_00: (points (N,6) float32, sem NYU40 (N,), ins (N,))."""
    root = data_path('scannet', 'scans')
    name = 'scene0000_00'
    return (np.load(osp.join(root, f'{name}_vert.npy')),
            np.load(osp.join(root, f'{name}_sem_label.npy')).astype(np.int64),
            np.load(osp.join(root, f'{name}_ins_label.npy')).astype(np.int64))


def write_cropped_scene(out_dir, scene='scene0000_00', box=(0.0, 0.0, 3.0, 3.0)):
    """Write a real scene cropped to an xy box (offsets from the scene's min corner, metres)
    in the per-scene arrays layout; returns the folder. ~14.5k points and 7 instances for
    the default box of scene0000_00."""
    root = data_path('scannet', 'scans')
    pts = np.load(osp.join(root, f'{scene}_vert.npy'))
    lo = pts[:, :2].min(0) + np.array(box[:2])
    keep = ((pts[:, 0] >= lo[0]) & (pts[:, 0] < lo[0] + box[2]) &
            (pts[:, 1] >= lo[1]) & (pts[:, 1] < lo[1] + box[3]))
    os.makedirs(out_dir, exist_ok=True)
    np.save(osp.join(out_dir, f'{scene}_vert.npy'), pts[keep])
    for suffix in ('_ins_label.npy', '_sem_label.npy'):
        np.save(osp.join(out_dir, scene + suffix), np.load(osp.join(root, scene + suffix))[keep])
    return out_dir


@pytest.fixture(scope='session')
def cropped_scene(tmp_path_factory):
    return write_cropped_scene(str(tmp_path_factory.mktemp('crop')))


def derive_data_dir(src, dst):
    """A folder that reads ``src``'s prepared data (every entry symlinked) but keeps its own
    ``clip_feat/``, so a test can store features without touching the session's data."""
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src):
        if name != 'clip_feat':
            os.symlink(osp.join(src, name), osp.join(dst, name))
    return dst


@pytest.fixture(scope='session')
def sv_frames(tmp_path_factory):
    """``create_data.py scannet_sv --pack-clip`` on the three real scene0000_00 frames,
    prepared once per session (plain and ``*_clip.pkl`` infos; the tool's log in
    ``create_data.log``). Read only: a test that stores features derives its own folder
    (:func:`derive_data_dir`)."""
    out = str(tmp_path_factory.mktemp('sv_frames'))
    log = tool_ok('create_data', 'scannet_sv', '--root-path', data_path('scannet'),
                  '--out-dir', out, '--pack-clip')
    with open(osp.join(out, 'create_data.log'), 'w') as fh:
        fh.write(log)
    return out


MV_FRAMES = ('00000', '00002', '00004')  # consecutive frames of the real sequence


def posed_subset(out_dir, frames=MV_FRAMES, meta=True):
    """The real sensor-depth sequence of scene0000_00 (``scannet/posed_rgbd``) reduced to
    ``frames`` (None: all; symlinks: colour, depth, pose; the intrinsic) with the scene meta
    file and its axis alignment unless ``meta=False``; returns the posed folder."""
    src = data_path('scannet', 'posed_rgbd')
    os.makedirs(out_dir, exist_ok=True)
    if frames is None:
        os.symlink(osp.join(src, 'posed_images'), osp.join(out_dir, 'posed_images'))
    else:
        scene = osp.join(out_dir, 'posed_images', 'scene0000_00')
        os.makedirs(scene)
        names = ['intrinsic.txt'] + [f'{f}.{e}' for f in frames for e in ('jpg', 'png', 'txt')]
        for name in names:
            os.symlink(osp.join(src, 'posed_images', 'scene0000_00', name),
                       osp.join(scene, name))
    if meta:
        os.symlink(osp.join(src, 'scene0000_00.txt'), osp.join(out_dir, 'scene0000_00.txt'))
    return out_dir


@pytest.fixture(scope='session')
def mv_frames(tmp_path_factory):
    """``create_data.py scannet_mv --pack-clip --max-points 5000`` on three consecutive frames
    of the real sensor-depth sequence of scene0000_00 (:data:`MV_FRAMES`, ~37 raw frames
    apart: ESAM's ScanNet-MV density), prepared once per session (read only, as
    :func:`sv_frames`)."""
    posed = posed_subset(str(tmp_path_factory.mktemp('mv_posed')))
    out = str(tmp_path_factory.mktemp('mv_frames'))
    tool_ok('create_data', 'scannet_mv', '--root-path', data_path('scannet'), '--posed-dir',
            posed, '--out-dir', out, '--pack-clip', '--max-points', '5000')
    return out


@pytest.fixture(scope='session')
def mv_clip_root(mv_frames, tmp_path_factory):
    """:func:`mv_frames` with a stored RGB-patch map per frame."""
    out = derive_data_dir(mv_frames, str(tmp_path_factory.mktemp('fusion_mv')))
    tool_ok('extract_2d_features', '--infos',
            osp.join(out, 'scannet_mv_oneformer3d_infos_train_clip.pkl'),
            '--encoder', 'RGBPatchEncoder', '--workers', '0')
    return out


@pytest.fixture(scope='session')
def sv_root(sv_frames, tmp_path_factory):
    """:func:`sv_frames` with a stored RGB-patch map per frame (3 channels, 16.2
    colour-image pixels per cell)."""
    out = derive_data_dir(sv_frames, str(tmp_path_factory.mktemp('fusion_sv')))
    tool_ok('extract_2d_features', '--infos',
            osp.join(out, 'scannet_sv_oneformer3d_infos_train_clip.pkl'),
            '--encoder', 'RGBPatchEncoder', '--workers', '0')
    return out
