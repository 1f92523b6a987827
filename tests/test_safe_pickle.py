"""No pickle runs code: every ``.pkl`` the project reads goes through the allow-list unpickler
(oneformer3d/datasets/infos_io.py); a crafted RLBench ``variation_number.pkl`` is refused."""
import os
import os.path as osp
import pickle
import re

import numpy as np
import pytest

from oneformer3d.robot.preprocessing.rlbench import write_episode_actions
from tests.conftest import REPO, data_path

# unpickling entry points; the allowed sites are the safe unpickler itself and the explicit,
# logged opt-in for trusted non-weights-only checkpoints
UNSAFE = re.compile(r'pickle\.loads?\(|Unpickler\b|allow_pickle\s*=\s*True|'
                    r'weights_only\s*=\s*False|joblib\.load|read_pickle|dill\.')
ALLOWED = {('oneformer3d/datasets/infos_io.py', 'Unpickler'),
           ('oneformer3d/utils/compat.py', 'weights_only=False')}


def test_no_other_unpickling_in_the_project():
    found = []
    for top in ('oneformer3d', 'tools', 'benchmarks'):
        for d, _, files in os.walk(osp.join(REPO, top)):
            for f in files:
                if not f.endswith('.py'):
                    continue
                path = osp.join(d, f)
                rel = osp.relpath(path, REPO)
                for no, line in enumerate(open(path), 1):
                    m = UNSAFE.search(line)
                    if m and (rel, m.group(0).rstrip('(').replace(' ', '')) not in ALLOWED:
                        found.append(f'{rel}:{no}: {line.strip()}')
    assert not found, '\n'.join(found)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ('touch pwned_marker',))


def episode_with(tmp_path, variation) -> str:
    """A real RLBench episode (symlinked) with ``variation`` pickled as its
    variation_number.pkl."""
    src = data_path('rlbench', 'open_drawer', 'episode1')
    ep = tmp_path / 'episode1'
    ep.mkdir()
    for name in os.listdir(src):
        if name != 'variation_number.pkl':
            os.symlink(osp.join(src, name), ep / name)
    with open(ep / 'variation_number.pkl', 'wb') as fh:
        pickle.dump(variation, fh)
    return str(ep)


def test_a_crafted_variation_file_is_refused_and_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ep = episode_with(tmp_path, _RunsCode())
    with pytest.raises(ValueError, match=r'variation_number.pkl: refusing to unpickle '
                                         r'posix.system'):
        write_episode_actions(ep, str(tmp_path / 'out'), 'open_drawer', 'episode1')
    assert not (tmp_path / 'pwned_marker').exists()
    (tmp_path / 'list').mkdir()
    with pytest.raises(ValueError, match='variation_number.pkl: expected one integer'):
        write_episode_actions(episode_with(tmp_path / 'list', [1, 2]), str(tmp_path / 'out'),
                              'open_drawer', 'episode1')


def test_the_real_variation_file_still_loads(tmp_path):
    src = data_path('rlbench', 'open_drawer', 'episode1')
    write_episode_actions(src, str(tmp_path), 'open_drawer', 'episode1')
    with open(osp.join(src, 'variation_number.pkl'), 'rb') as fh:
        expect = int(pickle.load(fh))  # the shared file, trusted here, read plainly
    saved = np.load(osp.join(tmp_path, 'actions', 'open_drawer', 'episode1.npz'))
    assert int(saved['variation']) == expect
