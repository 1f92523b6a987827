"""The main job on the embedded default data: ``python tools/demo.py`` (``make demo``).

1. generate procedural ScanNet-format rooms with posed RGB-D frames (data/demo/raw);
2. create_data: reconstructed scans (data/demo/scannet) and single-view frames
   (data/demo/scannet_sv);
3. train configs/oneformer3d/oneformer3d_scannet_demo.py (work_dirs/oneformer3d_scannet_demo);
4. test the final checkpoint on the held-out rooms, print the metrics table and write
   ``<work_dir>/demo_prediction_topdown.png`` (predicted instances beside the ground truth of
   the first held-out room).
"""
import argparse
import os.path as osp
import sys
import time

import oneformer3d  # noqa: F401
from oneformer3d.engine import Runner

from oneformer3d.datasets.preprocessing.scannet_frames import create_scannet_sv_infos
from oneformer3d.datasets.preprocessing.scannet_scans import create_scannet_infos
from oneformer3d.datasets.preprocessing.synthetic_rooms import make_demo_dataset
from oneformer3d.metainfo import SCANNET20
from oneformer3d.utils.config import add_repeatability_args, load_config

CONFIG = 'configs/oneformer3d/oneformer3d_scannet_demo.py'


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data-dir', default='data/demo')
    p.add_argument('--work-dir', default='work_dirs/oneformer3d_scannet_demo')
    p.add_argument('--scenes', type=int, default=14, help='rooms (the last 2 are held out)')
    p.add_argument('--iters', type=int, default=None, help='override max_iters')
    add_repeatability_args(p)
    args = p.parse_args(argv)
    times = {}
    t = time.time()
    raw = osp.join(args.data_dir, 'raw')
    make_demo_dataset(raw, num_scenes=args.scenes)
    times['generate'] = time.time() - t
    t = time.time()
    scans = create_scannet_infos(osp.join(raw, 'scans'), osp.join(args.data_dir, 'scannet'),
                                 SCANNET20, 'scannet', split_dir=raw)
    sv = create_scannet_sv_infos(raw, osp.join(args.data_dir, 'scannet_sv'), SCANNET20,
                                 'scannet_sv')
    times['create_data'] = time.time() - t
    print(f'create_data: {scans["summary"]}  single-view: {sv["summary"]}')
    cfg = load_config(CONFIG, work_dir=args.work_dir, seed=args.seed,
                      deterministic=args.deterministic)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = osp.join(args.data_dir, 'scannet')
    if args.iters:
        cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = args.iters
        cfg.param_scheduler.end = cfg.default_hooks.checkpoint.interval = args.iters
    t = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    times['train'] = time.time() - t
    t = time.time()
    metrics = runner.test()
    times['test'] = time.time() - t
    png = save_prediction_png(runner, osp.join(args.work_dir, 'demo_prediction_topdown.png'))
    print('\nDemo metrics on the held-out rooms (ScanNet-20 classes):')
    for k, v in metrics.items():
        print(f'  {k:<14}{v:.4f}')
    print('step times (s): ' + '  '.join(f'{k} {v:.0f}' for k, v in times.items()))
    print(f'predicted instances beside the ground truth (first held-out room): {png}')
    return 0


def save_prediction_png(runner, path: str) -> str:
    """Predict the first held-out room with the trained model and draw it top-down beside
    its ground truth."""
    import torch
    from mmengine.dataset import pseudo_collate

    from oneformer3d.visualization import save_instances_topdown_png
    model = runner.model.module if hasattr(runner.model, 'module') else runner.model
    model.eval()
    item = runner.test_dataloader.dataset[0]
    with torch.no_grad():
        data = model.data_preprocessor(pseudo_collate([item]), False)
        sample = model.predict(data['inputs'], data['data_samples'])[0]
    pred = sample.pred_instances_3d
    name = osp.basename(sample.metainfo.get('lidar_path', 'room'))
    return save_instances_topdown_png(
        path, item['inputs']['points'][:, :3].numpy(),
        item['data_samples'].gt_pts_seg.pts_instance_mask.numpy(),
        pred.pts_instance_mask.cpu().numpy(), pred.instance_scores.cpu().numpy(),
        title=f'held-out room {name}')


if __name__ == '__main__':
    sys.exit(main())
