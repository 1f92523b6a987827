import os
import os.path as osp

import numpy as np
import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA_ROOT = os.environ.get('ONEFORMER3D_DATA', osp.join(REPO, '..', 'shared', 'data'))


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
