"""The CUDA-12 patch of MinkowskiEngine 0.5.4 (tools/patch_minkowski_cuda.py), applied to the
real sdist from the package registry; the build itself needs a GPU machine (docs/get_started.md)."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys
import tarfile

import pytest

from tests.conftest import REPO

sys.path.insert(0, osp.join(REPO, 'tools'))
import patch_minkowski_cuda  # noqa: E402


@pytest.fixture(scope='module')
def me_sdist(tmp_path_factory):
    out = tmp_path_factory.mktemp('me_sdist')
    # pip runs the sdist's setup.py for its metadata, and MinkowskiEngine's setup.py calls
    # `pip uninstall MinkowskiEngine -y` (by PATH) at import: with this environment's pip
    # first on PATH (an activated venv) that removed the installed ME. A `pip` that does
    # nothing, first on PATH for the download, keeps the environment as it is.
    stub = out / 'stub_bin'
    stub.mkdir()
    (stub / 'pip').write_text('#!/bin/sh\nexit 0\n')
    (stub / 'pip').chmod(0o755)
    env = dict(os.environ, PATH=f'{stub}{os.pathsep}{os.environ.get("PATH", "")}')
    installed = importlib.util.find_spec('MinkowskiEngine') is not None
    res = subprocess.run([sys.executable, '-m', 'pip', 'download', '-q', '--no-deps',
                          '--no-binary', ':all:', '--no-build-isolation', '-d', str(out),
                          'MinkowskiEngine==0.5.4'], capture_output=True, text=True, timeout=300,
                         env=env)
    importlib.invalidate_caches()
    assert (importlib.util.find_spec('MinkowskiEngine') is not None) == installed, \
        'downloading the MinkowskiEngine sdist changed the installed packages'
    archive = out / 'MinkowskiEngine-0.5.4.tar.gz'
    if res.returncode != 0 or not archive.is_file():
        pytest.skip(f'MinkowskiEngine sdist not downloadable here: {res.stderr[-300:]}')
    with tarfile.open(archive) as tar:
        tar.extractall(out, filter='data')
    return out / 'MinkowskiEngine-0.5.4'


def test_patch_adds_the_cuda12_fixes_once(me_sdist, capsys):
    assert patch_minkowski_cuda.main([str(me_sdist), '--nvtx-disable']) == 0
    first = capsys.readouterr().out
    for rel, headers in patch_minkowski_cuda.INCLUDES.items():
        text = (me_sdist / rel).read_text()
        for h in headers:
            assert text.count(f'#include <{h}>') == 1, (rel, h)
        # inserted before the file's first original include
        assert next(line for line in text.split('\n') if line.startswith('#include')) == \
            f'#include <{headers[0]}>'
    setup = (me_sdist / 'setup.py').read_text()
    assert setup.count('-DNVTX_DISABLE') == 2
    compile(setup, 'setup.py', 'exec')  # still valid Python
    assert 'added' in first and 'NVTX_DISABLE added' in first
    # idempotent
    assert patch_minkowski_cuda.main([str(me_sdist), '--nvtx-disable']) == 0
    assert 'added' not in capsys.readouterr().out.replace('NVTX_DISABLE added', '')
    assert (me_sdist / 'setup.py').read_text() == setup


def test_patch_names_a_wrong_folder(tmp_path, capsys):
    assert patch_minkowski_cuda.main([str(tmp_path)]) == 1
    assert 'concurrent_unordered_map.cuh: not found' in capsys.readouterr().err


def test_setup_script_parses():
    res = subprocess.run(['bash', '-n', osp.join(REPO, 'tools', 'setup_env.sh')],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
