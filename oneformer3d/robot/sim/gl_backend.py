"""Choose MuJoCo's off-screen OpenGL backend before MuJoCo is imported.

MuJoCo reads ``MUJOCO_GL`` once, when ``mujoco`` is first imported (``mujoco/gl_context.py``),
so the choice is made here, in a child process per candidate: a 1x1 render of an empty model.
Order: the user's ``MUJOCO_GL`` (checked, never replaced), else ``egl`` (Mesa's software
renderer on a CPU machine: Debian ``libegl-mesa0`` + ``libgl1-mesa-dri``), else ``osmesa``
(Debian ``libosmesa6``). The result is cached in ``os.environ`` for this process and its
children.
"""
import os
import subprocess
import sys

CANDIDATES = ('egl', 'osmesa')
PACKAGES = {'egl': 'libegl-mesa0 libgl1-mesa-dri', 'osmesa': 'libosmesa6'}
_PROBE = ('import mujoco\n'
          'm = mujoco.MjModel.from_xml_string("<mujoco><worldbody><geom size=\'1\'/>'
          '</worldbody></mujoco>")\n'
          'r = mujoco.Renderer(m, 8, 8)\n'
          'r.update_scene(mujoco.MjData(m))\n'
          'r.render()\n')


def _probe(backend: str) -> str:
    """'' when ``backend`` renders, else the child's last error line."""
    env = dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend)
    try:
        res = subprocess.run([sys.executable, '-c', _PROBE], env=env, capture_output=True,
                             text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return 'timed out after 120 s'
    if res.returncode == 0:
        return ''
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else f'exit code {res.returncode}'


def select_gl_backend() -> str:
    """Set ``MUJOCO_GL`` (and ``PYOPENGL_PLATFORM``) to a backend that renders; return it.

    Raises:
        RuntimeError: no backend renders — naming ``MUJOCO_GL``, each backend's error and
            the Debian packages each needs; or ``mujoco`` was imported before with another
            backend.
    """
    chosen = os.environ.get('ONEFORMER3D_MUJOCO_GL_OK')
    if chosen and os.environ.get('MUJOCO_GL') == chosen:
        return chosen
    user = os.environ.get('MUJOCO_GL', '').strip().lower()
    candidates = (user,) if user else CANDIDATES
    errors = {}
    for backend in candidates:
        err = _probe(backend)
        if not err:
            if 'mujoco' in sys.modules and os.environ.get('MUJOCO_GL', '') != backend:
                raise RuntimeError(f'mujoco was imported before the OpenGL backend was chosen '
                                   f'(MUJOCO_GL={os.environ.get("MUJOCO_GL", "")!r}); import '
                                   f'oneformer3d.robot.sim before mujoco or metaworld')
            os.environ['MUJOCO_GL'] = os.environ['PYOPENGL_PLATFORM'] = backend
            os.environ['ONEFORMER3D_MUJOCO_GL_OK'] = backend
            return backend
        errors[backend] = err
    how = '; '.join(f'MUJOCO_GL={b}: {e} (Debian packages: {PACKAGES.get(b, "?")})'
                    for b, e in errors.items())
    raise RuntimeError(f'no MuJoCo off-screen rendering backend works here ({how}). Install '
                       f'the packages of one (apt-get install {PACKAGES["egl"]}, or '
                       f'{PACKAGES["osmesa"]}) and set MUJOCO_GL=egl or MUJOCO_GL=osmesa')
