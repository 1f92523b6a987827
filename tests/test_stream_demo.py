"""tools/stream_demo.py on real consecutive frames of scene0000_00 (sensor depth): a PNG per
frame with the frame, its current predictions and the merged scene, and the GIF of them."""
import os.path as osp
import pickle

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

from oneformer3d.datasets.preprocessing.scannet_io import read_bin
import torch

from oneformer3d.registry import MODELS, TASK_UTILS
from oneformer3d.visualization import save_animation, save_stream_png
from tests.conftest import REPO, call_tool

CONFIG = osp.join(REPO, 'configs/esam/ESAM_online_3d_scannet_sample.py')
SV_CONFIG = osp.join(REPO, 'configs/esam/ESAM_sv_3d_scannet_sample.py')


def coloured_pixels(path):
    """Pixels whose channels differ by more than 40 (the picture is otherwise grey/black)."""
    im = np.asarray(Image.open(path).convert('RGB')).astype(int)
    return int(((im.max(-1) - im.min(-1)) > 40).sum())


def test_current_predictions_are_drawn_where_the_frame_sees_them(mv_frames, tmp_path):
    with open(osp.join(mv_frames, 'scannet_mv_oneformer3d_infos_train.pkl'), 'rb') as fh:
        info = pickle.load(fh)['data_list'][0]
    xyz = read_bin(osp.join(mv_frames, 'points', info['lidar_paths'][0]), np.float32, 6)[:, :3]
    ins = read_bin(osp.join(mv_frames, 'instance_mask', info['pts_instance_mask_paths'][0]),
                   np.int64)
    masks = np.stack([ins == i for i in np.unique(ins[ins > 0])])
    merger = TASK_UTILS.build(Config.fromfile(CONFIG).model.merger)  # no scene instance yet
    grey = np.full((968, 1296, 3), 128, np.uint8)
    args = (merger, grey, info['intrinsic'], info['poses'][0], xyz[::10])
    with_masks = save_stream_png(str(tmp_path / 'a.png'), *args, 'frame 1', xyz, masks)
    without = save_stream_png(str(tmp_path / 'b.png'), *args, 'frame 1')
    assert len(masks) >= 5 and coloured_pixels(with_masks) > 2000
    assert coloured_pixels(without) == 0
    gif = save_animation([with_masks, without], str(tmp_path / 'x.gif'))
    assert Image.open(gif).n_frames == 2
    with pytest.raises(ValueError, match='write .gif or .mp4'):
        save_animation([with_masks], str(tmp_path / 'x.avi'))


def test_stream_demo_writes_a_picture_per_frame_and_the_gif(mv_frames, tmp_path):
    """Random weights (no trained checkpoint in the tests): the pictures and the animation
    are plumbing here; the trained sample's pictures are in configs/esam/README.md."""
    out = tmp_path / 'stream'
    rc, log = call_tool('stream_demo', CONFIG, '--infos',
                        osp.join(mv_frames, 'scannet_mv_oneformer3d_infos_val.pkl'),
                        '--out', out, '--random-init')
    assert rc == 0, log
    pngs = sorted(p.name for p in out.glob('frame_*.png'))
    assert pngs == ['frame_0000.png', 'frame_0001.png', 'frame_0002.png']
    gif = Image.open(out / 'stream.gif')
    assert gif.n_frames == 3 and gif.width <= 960
    assert 'frames=3 ' in log and f'animation: {out / "stream.gif"}' in log
    # it exists for a trained model: without one it says so, and it loads strictly
    rc, log = call_tool('stream_demo', CONFIG, '--infos', 'x.pkl')
    assert rc != 0 and 'give --checkpoint (or --random-init' in log
    other = tmp_path / 'sv.pth'
    torch.manual_seed(0)
    torch.save(dict(state_dict=MODELS.build(Config.fromfile(SV_CONFIG).model).state_dict()),
               other)
    with pytest.raises(ValueError, match=r'sv.pth: loaded \d+ tensors, missing \d+'):
        call_tool('stream_demo', CONFIG, '--infos',
                  osp.join(mv_frames, 'scannet_mv_oneformer3d_infos_val.pkl'),
                  '--checkpoint', other, '--out', out)
