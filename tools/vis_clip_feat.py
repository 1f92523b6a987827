"""Look at per-point 2D features on a scene: PCA colours top-down and a t-SNE by label.

  python tools/vis_clip_feat.py data/scannet_sv/scannet_sv_oneformer3d_infos_train_clip.pkl \\
      --index 0 --out work_dirs/vis/clip_points.png

Loads the sample through the same transforms as training (LoadPointsFromFile,
LoadAnnotations3D, LoadClipFeature), projects the points into the frame(s), samples the stored
features (Det3DDataPreprocessor + sample_points_img_feat) and draws the picture with
scikit-learn's PCA and t-SNE. Points no view sees are left out.
"""
import argparse
import os.path as osp
import sys

import oneformer3d  # noqa: F401
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from oneformer3d.datasets.infos_io import load_infos
from oneformer3d.metainfo import get_class_table
from oneformer3d.models import Det3DDataPreprocessor
from oneformer3d.models.layers import sample_points_img_feat
from oneformer3d.registry import DATASETS
from oneformer3d.visualization import save_point_feature_png


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('infos', help='infos .pkl with clip_feat_path(s) (create_data --pack-clip)')
    p.add_argument('--index', type=int, default=0, help='sample index')
    p.add_argument('--feat-dir', default='clip_feat')
    p.add_argument('--tsne-points', type=int, default=2000)
    p.add_argument('--out', default=None, help='PNG path (default: beside the infos)')
    args = p.parse_args(argv)
    init_default_scope('oneformer3d')
    table = get_class_table(load_infos(args.infos)['metainfo']['dataset'])
    pipeline = [dict(type='LoadPointsFromFile'),
                dict(type='LoadAnnotations3D', with_mask_3d=False, with_sp_mask_3d=False),
                dict(type='PointSegClassMapping'),
                dict(type='LoadClipFeature', feat_dir=args.feat_dir, load_image_on_miss=False),
                dict(type='Pack3DDetInputs', keys=['points', 'pts_semantic_mask'])]
    dataset = DATASETS.build(dict(
        type='ScanNet200SegDataset' if table.name == 'scannet200' else 'ScanNetSegDataset',
        data_root=osp.dirname(osp.abspath(args.infos)), ann_file=osp.basename(args.infos),
        pipeline=pipeline))
    item = dataset[args.index]
    if item['data_samples'].metainfo['clip_missing'] in (True, [True]):
        raise SystemExit(f'{item["data_samples"].metainfo["clip_feat_path"]}: no stored '
                         f'features (run tools/extract_2d_features.py first)')
    data = Det3DDataPreprocessor()(pseudo_collate([item]))
    feats, valid = sample_points_img_feat(data['inputs']['points'], data['inputs']['clip_pix'],
                                          data['inputs']['camera'])
    pts, ok = data['inputs']['points'][0], valid[0]
    labels = item['data_samples'].gt_pts_seg.pts_semantic_mask[ok].numpy()
    meta = item['data_samples'].metainfo
    name = f'{meta["scene_id"]}_{meta["frame_id"]}' if 'frame_id' in meta else \
        meta.get('scene_id', str(args.index))
    out = args.out or osp.join(osp.dirname(osp.abspath(args.infos)), f'{name}_point_feats.png')
    save_point_feature_png(pts[ok, :3].numpy(), feats[0][ok].numpy(), out, labels=labels,
                           tsne_points=args.tsne_points,
                           title=f'{name}: {int(ok.sum())} of {len(ok)} points seen')
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
