"""The overfitting check at CI size: a 3 m x 3 m crop of real scene0000_00 (14.5k points,
7 instances), trained and evaluated through create_data -> Runner -> InstanceSegMetric.

Threshold: the superpoint oracle (GT rasterised onto our superpoints) scores class-agnostic
AP50 1.0 on this crop; an untrained model scores below 0.1. Multi-threaded sparse convolution
and scatter reductions are not bitwise deterministic, so runs differ: three runs at 50
iterations gave AP50 1.0 (AP 0.65 / 0.74 / 0.69), and one CI run at 50 iterations failed the
threshold. 60 iterations and 0.8 (one of the 7 instances may be missed) leave that margin and
still fail whenever matching, losses, decoding or evaluation disagree.
"""
import importlib.util
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_tool(name):
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, 'tools', f'{name}.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_overfit_cropped_real_scene(cropped_scene, tmp_path):
    overfit = load_tool('overfit')
    args = overfit.parse_args(['--data', cropped_scene, '--scene', 'scene0000_00',
                               '--iters', '60', '--work-dir', str(tmp_path / 'wd'),
                               '--config', osp.join(REPO, 'configs/oneformer3d/overfit_scene.py')])
    metrics = overfit.run_overfit(args)
    assert metrics['ca_ap50'] >= 0.8, metrics
    assert metrics['mRec'] >= 0.8
    import csv
    with open(tmp_path / 'wd' / 'metrics.csv') as fh:
        rows = list(csv.DictReader(fh))
    assert rows and rows[-1]['config'].endswith('overfit_scene.py')
    assert float(rows[-1]['ca_ap50']) == pytest.approx(metrics['ca_ap50'], abs=1e-6)
