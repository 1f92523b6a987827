"""The overfitting check at CI size: a 3 m x 3 m crop of real scene0000_00 (14.5k points,
7 instances), trained and evaluated through create_data -> Runner -> InstanceSegMetric.

Threshold: the superpoint oracle (GT rasterised onto our superpoints) scores class-agnostic
AP50 1.0 on this crop; an untrained model scores below 0.1. Multi-threaded sparse convolution
and scatter reductions are not bitwise deterministic (three 2-thread runs at 50 iterations gave
AP 0.65 / 0.74 / 0.69, and one CI run failed the threshold; torch.set_num_threads(1) inside
the process still left runs differing), so the tool runs as a subprocess with one OpenMP
thread, 60 iterations. One thread is repeatable within one environment, not across them:
only torch is pinned, and the environment rebuilt on 2026-12-06 gives AP50 0.764 (AP 0.510,
mRec 1.0) at 60 iterations where the earlier one passed 0.8 (80 iterations there: 0.718 —
a 60-step fit of 7 instances moves by an instance). Threshold 0.7: one or two of the 7
instances may fit poorly; an untrained model scores below 0.1, so it still fails whenever
matching, losses, decoding or evaluation disagree.

Queries: the crop has 1,262 superpoints, and 300 farthest-point seeds reach all 7 instances
(sparse matching supervises an instance only through a query seeded inside it); the config's
1,000 are for whole scenes (~7,100 superpoints, docs/reproduction.md). With 300 the check takes
86 s instead of 182 s on one thread and fits the crop to AP / AP50 0.720 / 1.000, mRec 1.0
(2026-12-06, this environment; 1,000 queries: AP50 0.764).
"""
import csv
import os.path as osp

import pytest

from tests.conftest import REPO, run_script


@pytest.mark.slow
def test_overfit_cropped_real_scene(cropped_scene, tmp_path):
    wd = tmp_path / 'wd'
    # one OpenMP thread: bitwise repeatable (two runs give the same metrics)
    res = run_script([osp.join(REPO, 'tools', 'overfit.py'), '--data', cropped_scene,
                      '--scene', 'scene0000_00', '--iters', '60', '--work-dir', str(wd),
                      '--config', osp.join(REPO, 'configs/oneformer3d/overfit_scene.py'),
                      '--cfg-options', 'model.decoder.max_queries=300'],
                     threads=1, timeout=900)
    last = res.stdout.strip().splitlines()[-1]
    assert last.startswith('class-agnostic AP50: '), last
    with open(wd / 'metrics.csv') as fh:
        rows = list(csv.DictReader(fh))
    assert rows and rows[-1]['config'].endswith('overfit_scene.py')
    metrics = {k: float(v) for k, v in rows[-1].items() if k in ('ca_ap', 'ca_ap50', 'mRec')}
    assert metrics['ca_ap50'] >= 0.7, metrics
    assert metrics['mRec'] >= 0.8, metrics
    assert float(last.split(': ')[1]) == pytest.approx(metrics['ca_ap50'], abs=1e-4)
