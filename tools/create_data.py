"""Prepare datasets: ``python tools/create_data.py DATASET --root-path R --out-dir O``.

DATASET:
  scannet200 | scannet         reconstructed scans (OneFormer3D style), ScanNet200 or ScanNet-20
                               class table; R = folder of scenes (raw ScanNet or arrays layout)
  scannet200_sv | scannet_sv   single posed frames (ESAM style); R = dataset root holding
                               the scans and the posed frames (see --posed-dir)
  scannet200_mv | scannet_mv   posed sequences, one info per scene (ESAM online); R as for SV
  sevenscenes_mv               an unlabeled RGB-D folder (7-Scenes layout): inference-only

--pack-clip adds the per-frame 2D feature paths (see tools/extract_2d_features.py).

Examples (the shared real sample):
  python tools/create_data.py scannet --root-path ../shared/data/scannet/scans \\
      --out-dir data/scannet_sample
  python tools/create_data.py scannet_sv --root-path ../shared/data/scannet \\
      --out-dir data/scannet_sample_sv
"""
import argparse
import logging
import sys
import time

import oneformer3d  # noqa: F401  (compat fixes)
from oneformer3d.metainfo import get_class_table


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('dataset', choices=['scannet200', 'scannet', 'scannet200_sv', 'scannet_sv',
                                       'scannet200_mv', 'scannet_mv', 'sevenscenes_mv'])
    p.add_argument('--root-path', required=True)
    p.add_argument('--out-dir', required=True)
    p.add_argument('--workers', type=int, default=1,
                   help='processes: scenes (scans) or chunks of frames (SV/MV); the output is '
                        'byte-identical to one process')
    p.add_argument('--superpoints', choices=['auto', 'segs', 'graph', 'kmeans'], default='auto',
                   help='auto: ScanNet segs.json / _sp_label.npy when present, else graph '
                        '(Felzenszwalb) segmentation; never built from GT labels')
    p.add_argument('--split-dir', default=None,
                   help='folder with scannetv2_train.txt / scannetv2_val.txt; without it '
                        'every scene goes to both splits')
    p.add_argument('--label-map', default=None,
                   help='scannetv2-labels.combined.tsv (raw scans only; default: beside '
                        '--root-path)')
    p.add_argument('--scenes', nargs='*', default=None, help='only these scenes')
    p.add_argument('--overwrite', action='store_true', help='redo scenes already converted')
    # single-view options
    p.add_argument('--axis-align', default=None,
                   help='SV/MV: the axis alignment of every posed frame (a ScanNet <scene>.txt '
                        'meta file or a 4x4 matrix, .txt or .npy); default: the posed infos, the '
                        'meta file beside posed_images/, or the scan')
    p.add_argument('--posed-dir', default=None, help='SV: posed frames folder (see '
                   'oneformer3d/datasets/preprocessing/scannet_frames.py)')
    p.add_argument('--frame-interval', type=int, default=1,
                   help='SV/MV: keep every k-th posed frame (ESAM: SV 200, MV 40 raw frames '
                        'apart)')
    p.add_argument('--max-points', type=int, default=20000, help='SV/MV: points per frame')
    # 2D features
    p.add_argument('--pack-clip', action='store_true',
                   help='also write infos with clip_feat_path(s) (<feat-dir>/<scene>/<frame>.pt '
                        'per frame, written even before extraction) as <infos><clip-suffix>.pkl')
    p.add_argument('--clip-suffix', default='_clip', help='suffix of the --pack-clip infos')
    p.add_argument('--clip-feat-dir', default='clip_feat',
                   help='feature folder under --out-dir (one per encoder)')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    tag = args.dataset
    table = get_class_table(tag.replace('_sv', '').replace('_mv', '').replace(
        'sevenscenes', 'scannet200'))
    t0 = time.time()
    if tag.endswith('_mv') and args.overwrite:
        raise SystemExit(f'{tag}: --overwrite applies to scans and single-view frames; '
                         f'sequences are always rewritten')
    if tag == 'sevenscenes_mv' and args.workers > 1:
        raise SystemExit(f'{tag}: an unlabeled folder is converted in one process '
                         f'(--workers applies to the ScanNet datasets)')
    if args.workers < 1:
        raise SystemExit(f'--workers {args.workers}: at least 1 process is needed')
    if tag == 'sevenscenes_mv':
        from oneformer3d.datasets.preprocessing.scannet_sequences import \
            create_rgbd_sequence_infos
        result = create_rgbd_sequence_infos(
            args.root_path, args.out_dir, table, tag, frame_interval=args.frame_interval,
            max_points=args.max_points, superpoints=args.superpoints)
    elif tag.endswith('_mv'):
        from oneformer3d.datasets.preprocessing.scannet_sequences import create_scannet_mv_infos
        result = create_scannet_mv_infos(
            args.root_path, args.out_dir, table, tag, posed_dir=args.posed_dir,
            frame_interval=args.frame_interval, max_points=args.max_points,
            superpoints=args.superpoints, scenes=args.scenes, axis_align=args.axis_align,
            workers=args.workers)
    elif tag.endswith('_sv'):
        from oneformer3d.datasets.preprocessing.scannet_frames import create_scannet_sv_infos
        result = create_scannet_sv_infos(
            args.root_path, args.out_dir, table, tag, posed_dir=args.posed_dir,
            frame_interval=args.frame_interval, max_points=args.max_points,
            superpoints=args.superpoints, overwrite=args.overwrite, scenes=args.scenes,
            workers=args.workers, axis_align=args.axis_align)
    else:
        from oneformer3d.datasets.preprocessing.scannet_scans import create_scannet_infos
        result = create_scannet_infos(
            args.root_path, args.out_dir, table, tag, workers=args.workers,
            superpoints=args.superpoints, split_dir=args.split_dir,
            label_map_path=args.label_map, overwrite=args.overwrite, scenes=args.scenes)
    for split in ('train', 'val'):
        print(f'{split} infos: {result[split]}')
        if args.pack_clip:
            from oneformer3d.datasets.preprocessing.feature_io import add_feature_paths_to_infos
            out, frames, present = add_feature_paths_to_infos(
                result[split], args.clip_feat_dir, args.clip_suffix)
            print(f'{split} infos with 2D feature paths: {out} ({frames} frames, {present} '
                  f'feature files present)')
    summary = ' '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}'
                       for k, v in result['summary'].items())
    print(f'{summary} time_s={time.time() - t0:.1f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
