"""Verify stored 2D features: shapes/dtypes, NaN/Inf, per-file statistics, similarity of
neighbouring frames. Exits 1 when any file is corrupt.

  python tools/verify_saved_features.py data/scannet_sv/clip_feat [--csv stats.csv]
  python tools/verify_saved_features.py data/rlbench/packs --packs     # feature packs
"""
import argparse
import csv
import math
import sys

import numpy as np

from oneformer3d.datasets.preprocessing.feature_verify import verify_feature_dir
from oneformer3d.robot.preprocessing.pack_verify import verify_pack


def find_packs(root):
    import glob
    import os.path as osp
    if root.endswith(('.zarr', '.pt')):
        return [root]
    return sorted(glob.glob(osp.join(root, '**', '*.zarr'), recursive=True)
                  + glob.glob(osp.join(root, '**', '*.pt'), recursive=True))


def verify_packs(root):
    rows, errors = [], []
    for path in find_packs(root):
        row, errs = verify_pack(path)
        errors += errs
        if row and not errs:
            rows.append(row)
            print(f'{path}: {row["shape"]} {row["encoder"]} mean={row["mean"]:.3g} '
                  f'std={row["std"]:.3g} adjacent_frame_sim={row["adjacent_frame_sim"]:.3f} '
                  f'adjacent_window_sim={row["adjacent_window_sim"]:.3f}')
    if not rows and not errors:
        errors.append(f'{root}: no .zarr or .pt packs')
    return rows, errors


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('root', help='folder of per-frame .pt feature files')
    p.add_argument('--csv', default=None, help='write per-file statistics here')
    p.add_argument('--packs', action='store_true', help='ROOT holds feature packs')
    args = p.parse_args(argv)
    if args.packs:
        rows, errors = verify_packs(args.root)
        for err in errors:
            print(f'ERROR {err}', file=sys.stderr)
        print(f'packs={len(rows) + len(errors)} ok={len(rows)} corrupt={len(errors)}')
        return 1 if errors else 0
    rows, errors = verify_feature_dir(args.root)
    if args.csv and rows:
        with open(args.csv, 'w', newline='') as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    for row in rows[:20]:
        print(f'{row["path"]}: {row["shape"]} {row["dtype"]} {row["encoder"]} '
              f'mean={row["mean"]:.3g} std={row["std"]:.3g} sim_prev={row["sim_prev"]:.3f}')
    if len(rows) > 20:
        print(f'... {len(rows) - 20} more')
    sims = [r['sim_prev'] for r in rows if not math.isnan(r['sim_prev'])]
    print(f'files={len(rows) + len(errors)} ok={len(rows)} corrupt={len(errors)} '
          f'neighbour_sim_mean={np.mean(sims) if sims else float("nan"):.3f}')
    for err in errors:
        print(f'ERROR {err}', file=sys.stderr)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
