"""Bad input gives a clear error naming the file (or a counted fallback), on the real data:
NYU40 labels read with the ScanNet200 table, 2D feature maps of another width, an
ONEFORMER3D_DATA that does not exist, --resume without a checkpoint, an interrupted
checkpoint save. (Strict evaluation loading: tests/test_train.py; config typos:
tests/test_configs.py; pairing fallbacks: tests/test_alignment.py.)"""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from oneformer3d.datasets.preprocessing.feature_io import load_feature_file, save_feature_file
from oneformer3d.datasets.preprocessing.scannet_scans import create_scannet_infos
from oneformer3d.datasets.transforms import LoadClipFeature
from oneformer3d.metainfo import SCANNET20, SCANNET200
from tests.conftest import REPO, data_path


def test_nyu40_labels_under_the_scannet200_table_stop(tmp_path):
    """The shared scenes carry NYU40 ids; as ScanNet200 raw ids they would map NYU40 2
    (floor) to ScanNet200 2 (chair) without a word."""
    root = data_path('scannet', 'scans')
    with pytest.raises(ValueError, match=r'scene0000_00_sem_label.npy: every semantic id is '
                                         r'<= 40 and \[12, 25\] are no ScanNet200 class.*'
                                         r'create_data.py scannet.*ScanNet200 raw ids'):
        create_scannet_infos(root, str(tmp_path / 'o200'), SCANNET200, 'scannet200',
                             scenes=['scene0000_00'])
    # the right table converts the same scene
    res = create_scannet_infos(root, str(tmp_path / 'o20'), SCANNET20, 'scannet',
                               scenes=['scene0000_00'])
    assert res['summary']['scenes'] == 1


def _real_frame_feature(tmp_path, channels):
    """A feature file for the real frame 00000 of scene0000_00 with ``channels`` channels."""
    img = data_path('scannet', 'posed', 'posed_images', 'scene0000_00', '00000.jpg')
    path = str(tmp_path / f'feat_{channels}.pt')
    pix = torch.rand(channels, 60, 80)
    save_feature_file(path, pix, None, dict(image_size=[968, 1296], feat_size=[60, 80],
                                            stride=[1296 / 80, 968 / 60]))
    return img, path


def test_feature_maps_of_another_width_are_named(tmp_path):
    img, three = _real_frame_feature(tmp_path, 3)
    _, seven = _real_frame_feature(tmp_path, 7)
    load = LoadClipFeature()
    base = dict(img_path=img, scene_id='scene0000_00', frame_id='00000')
    assert load(dict(base, clip_feat_path=three))['clip_pix'].shape[0] == 3
    with pytest.raises(ValueError, match=r'feat_7.pt: 7 feature channels, but .*feat_3.pt has '
                                         r'3: the feature folder mixes encoders'):
        load(dict(base, clip_feat_path=seven))
    with pytest.raises(ValueError, match=r'feat_3.pt: 3 feature channels, the config expects '
                                         r'LoadClipFeature\(channels=192\)'):
        LoadClipFeature(channels=192)(dict(base, clip_feat_path=three))
    # a file whose map disagrees with its own meta (written by another tool)
    obj = torch.load(seven, weights_only=True)
    obj['meta']['channels'] = 3
    torch.save(obj, seven)
    with pytest.raises(ValueError, match=r'feat_7.pt: "pix" has 7 channels but its meta says 3'):
        load_feature_file(seven)


def test_missing_data_folder_setting_fails_the_test_run(tmp_path):
    env = dict(os.environ, ONEFORMER3D_DATA=str(tmp_path / 'nowhere'), PYTHONPATH=REPO)
    res = subprocess.run([sys.executable, '-m', 'pytest', '-q', osp.join(REPO, 'tests',
                                                                         'test_metainfo.py')],
                         env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert res.returncode != 0
    assert 'ONEFORMER3D_DATA=' in res.stdout + res.stderr and 'is not a folder' in \
        res.stdout + res.stderr


def test_interrupted_checkpoint_save_leaves_no_truncated_file(tmp_path, monkeypatch):
    """Runner.save_checkpoint writes <name>.tmp and renames it: a save that dies midway
    leaves the previous files and no half-written iter_N.pth."""
    from oneformer3d.engine.runner import Runner
    import mmengine.runner.runner as mm_runner

    def broken_save(self, out_dir, filename, *args, **kwargs):
        with open(osp.join(out_dir, filename), 'wb') as fh:
            fh.write(b'PK\x03\x04 half a zip')
        raise KeyboardInterrupt('killed during the save')
    monkeypatch.setattr(mm_runner.Runner, 'save_checkpoint', broken_save)
    runner = Runner.__new__(Runner)
    with pytest.raises(KeyboardInterrupt):
        runner.save_checkpoint(str(tmp_path), 'iter_3.pth')
    assert not (tmp_path / 'iter_3.pth').exists()
    assert (tmp_path / 'iter_3.pth.tmp').exists()   # what was being written, never renamed


class _Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned > /dev/null',))


def test_infos_load_with_an_allow_list(tmp_path):
    """Infos written by create_data (real scene) load; a pickle that names another global
    (here os.system, as a crafted infos file would) is refused, naming the file."""
    import pickle

    from oneformer3d.datasets.infos_io import load_infos
    res = create_scannet_infos(data_path('scannet', 'scans'), str(tmp_path / 'o'), SCANNET20,
                               'scannet', scenes=['scene0000_00'])
    data = load_infos(res['train'])
    assert data['data_list'][0]['axis_align_matrix'].shape == (4, 4)
    evil = tmp_path / 'evil_infos.pkl'
    with open(evil, 'wb') as fh:
        pickle.dump(dict(metainfo={}, data_list=[_Evil()]), fh)
    with pytest.raises(ValueError, match=r'evil_infos.pkl: refusing to unpickle (posix|os)\.'
                                         r'system'):
        load_infos(str(evil))


def _copy_scene(tmp_path, scene='scene0000_00'):
    src = data_path('scannet', 'scans')
    dst = tmp_path / 'scans'
    dst.mkdir()
    for suffix in ('_vert.npy', '_ins_label.npy', '_sem_label.npy'):
        (dst / f'{scene}{suffix}').write_bytes(open(osp.join(src, scene + suffix), 'rb').read())
    return dst


def test_nan_points_and_half_written_outputs_are_named(tmp_path):
    import numpy as np
    scans = _copy_scene(tmp_path)
    out = str(tmp_path / 'out')
    assert create_scannet_infos(str(scans), out, SCANNET20, 'scannet')['summary']['scenes'] == 1
    # skip-existing with another superpoint method than the files were written with
    with pytest.raises(ValueError, match=r"written with 'graph' superpoints, --superpoints "
                                         r'kmeans was asked; re-run with --overwrite'):
        create_scannet_infos(str(scans), out, SCANNET20, 'scannet', superpoints='kmeans')
    # an interrupted earlier run: the instance mask lost its tail
    ins = osp.join(out, 'instance_mask', 'scene0000_00.bin')
    with open(ins, 'r+b') as fh:
        fh.truncate(osp.getsize(ins) // 16 * 8)   # whole int64 rows, half of them
    with pytest.raises(ValueError, match=r'the files of scene0000_00 disagree in length .* '
                                         r'--overwrite'):
        create_scannet_infos(str(scans), out, SCANNET20, 'scannet')
    pts = np.load(scans / 'scene0000_00_vert.npy')
    pts[123, 1] = np.nan
    np.save(scans / 'scene0000_00_vert.npy', pts)
    with pytest.raises(ValueError, match=r'scene0000_00_vert.npy: 1 of \d+ points have NaN/Inf '
                                         r'values \(first row 123\)'):
        create_scannet_infos(str(scans), str(tmp_path / 'out3'), SCANNET20, 'scannet')


def test_verify_tool_reports_every_file(tmp_path):
    scene = tmp_path / 'clip_feat' / 'scene0000_00'
    scene.mkdir(parents=True)
    for name, c in (('00000', 3), ('00011', 7), ('00102', 3)):
        save_feature_file(str(scene / f'{name}.pt'), torch.rand(c, 6, 8), None, {})
    res = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'verify_saved_features.py'),
                          str(tmp_path / 'clip_feat')], capture_output=True, text=True,
                         timeout=300, cwd=REPO)
    assert res.returncode == 1, res.stderr[-2000:]
    assert 'Traceback' not in res.stderr
    assert '00011.pt: 7 channels, the first file has 3' in res.stderr
    assert 'files=3 ok=2 corrupt=1' in res.stdout


def test_missing_infos_name_the_file_and_the_fix(tmp_path):
    from oneformer3d.datasets import ScanNetSegDataset
    with pytest.raises(FileNotFoundError, match=r'scannet_oneformer3d_infos_train.pkl: infos '
                                                r'file not found .* relative to the current '
                                                r'directory.*tools/create_data.py'):
        ScanNetSegDataset(data_root=str(tmp_path),
                          ann_file='scannet_oneformer3d_infos_train.pkl')


def test_single_view_frames_resume(tmp_path):
    """create_data scannet_sv skips frames a previous run finished (their info written
    last) with the same settings, and refuses to mix frames made with other settings."""
    from oneformer3d.datasets.preprocessing.scannet_frames import create_scannet_sv_infos
    out = str(tmp_path / 'sv')
    first = create_scannet_sv_infos(data_path('scannet'), out, SCANNET20, 'scannet_sv',
                                    max_points=2000)
    assert sorted(os.listdir(osp.join(out, 'frame_infos'))) == [
        'scene0000_00_00000.pkl', 'scene0000_00_00011.pkl', 'scene0000_00_00102.pkl']
    points = osp.join(out, 'points', 'scene0000_00_00011.bin')
    stamp = os.stat(points).st_mtime_ns
    again = create_scannet_sv_infos(data_path('scannet'), out, SCANNET20, 'scannet_sv',
                                    max_points=2000)
    assert os.stat(points).st_mtime_ns == stamp          # reused, not rewritten
    assert [i['sample_idx'] for i in again['infos']] == [i['sample_idx']
                                                         for i in first['infos']]
    # finished frames are reused only for the settings that made them
    with pytest.raises(ValueError, match=r"scene0000_00_00000 was converted with other settings "
                                         r"\(stored vs asked: \{'max_points': \(2000, 3000\)\}"):
        create_scannet_sv_infos(data_path('scannet'), out, SCANNET20, 'scannet_sv',
                                max_points=3000)
