"""``LoadAdjacentDataFromFile``: the frames of a posed sequence (ESAM online setting)."""
import numpy as np
from mmcv.transforms import BaseTransform

from oneformer3d.datasets.preprocessing.scannet_io import read_bin
from oneformer3d.registry import TRANSFORMS

FRAME_LIST_KEYS = ('img_paths', 'depth_paths', 'frame_ids', 'clip_feat_paths')


@TRANSFORMS.register_module()
class LoadAdjacentDataFromFile(BaseTransform):
    """Read ``num_frames`` consecutive frames of a sequence info (random start) or, with
    ``num_frames <= 0`` (test), the whole sequence, and concatenate them.

    Adds ``points`` (N, len(use_dim)) float32 in the scene's common frame (all frames of a
    sample share one ``aug_matrix``, so later augmentations keep them registered),
    ``frame_idx`` (N,) int64 position of each point's frame in the selection, and, when
    requested, ``pts_instance_mask`` (scene-consistent ids), ``pts_semantic_mask`` and
    ``sp_pts_mask`` (superpoints made unique across frames by offsets). Per-frame lists
    (``img_paths``, ``depth_paths``, ``frame_ids``, ``clip_feat_paths``) and ``poses``
    (T, 4, 4) are cut to the selected frames (``frame_sel``), so a following
    :class:`LoadClipFeature` loads exactly those frames.

    A training sequence shorter than ``num_frames`` is padded by repeating its last frame
    (``pad_short='repeat_last'``, the default: a camera that stops; batches of several
    sequences then stack), marked per frame in ``frame_padded`` and counted per epoch by
    :class:`~oneformer3d.engine.hooks.DataFallbackHook`; ``pad_short='none'`` keeps the short
    sequence as it is (a batch of unequal sequences is then an error naming the counts).

    ``load_scan=True`` (evaluation) also reads the reconstructed scan named by the info:
    ``scan_points`` (M, 3) float32 and ``eval_ann_info`` with its ``pts_instance_mask`` and
    train-id ``pts_semantic_mask`` (via ``seg_label_mapping``), so the online result is scored
    on the scan, as the ScanNet benchmark does. A whole ScanNet sequence covers its scan; a
    short or subsampled one does not, and the unseen part then counts as missed objects.
    ``scan_region='observed'`` crops the scan (points and GT) to the points within
    ``observed_radius`` metres of any loaded frame point (scipy ``cKDTree``) and records the
    kept fraction as ``scan_observed_fraction``; the default ``'full'`` is the benchmark's.

    Raises:
        KeyError: the info lacks the paths a requested annotation needs (names the sample).
        ValueError / FileNotFoundError: naming the file when it is missing, truncated or its
        length differs from the frame's points.
    """

    def __init__(self, num_frames: int = 8, load_dim: int = 6, use_dim=(0, 1, 2, 3, 4, 5),
                 with_mask_3d: bool = True, with_seg_3d: bool = True,
                 with_sp_mask_3d: bool = True, load_scan: bool = False,
                 scan_region: str = 'full', observed_radius: float = 0.05,
                 pad_short: str = 'repeat_last'):
        if scan_region not in ('full', 'observed'):
            raise ValueError(f"scan_region must be 'full' or 'observed', got {scan_region!r}")
        if pad_short not in ('repeat_last', 'none'):
            raise ValueError(f"pad_short must be 'repeat_last' or 'none', got {pad_short!r}")
        self.pad_short = pad_short
        self.scan_region, self.observed_radius = scan_region, observed_radius
        self.num_frames = num_frames
        self.load_dim, self.use_dim = load_dim, list(use_dim)
        self.masks = [k for k, on in (('pts_instance_mask', with_mask_3d),
                                      ('pts_semantic_mask', with_seg_3d)) if on]
        self.with_sp = with_sp_mask_3d
        self.load_scan = load_scan

    def select(self, total: int) -> np.ndarray:
        """Indices of the frames to load: ``num_frames`` consecutive ones from a random start;
        all of a shorter sequence, padded with its last frame when ``pad_short='repeat_last'``
        (so every sample of a batch has ``num_frames`` frames); all with ``num_frames <= 0``."""
        if self.num_frames <= 0:
            return np.arange(total)
        if self.num_frames >= total:
            sel = np.arange(total)
            if self.pad_short == 'repeat_last' and total > 0:
                sel = np.concatenate([sel, np.full(self.num_frames - total, total - 1)])
            return sel
        start = np.random.randint(0, total - self.num_frames + 1)
        return np.arange(start, start + self.num_frames)

    def transform(self, results: dict) -> dict:
        paths = results['lidar_paths']
        sel = self.select(len(paths))
        for key in self.masks + (['super_pts_path'] if self.with_sp else []):
            list_key = 'super_pts_paths' if key == 'super_pts_path' else f'{key}_paths'
            if not results.get(list_key):
                raise KeyError(f'sample {results.get("sample_idx")}: no {list_key} in the info '
                               f'(unlabeled sequence? switch the annotation off)')
        points, frame_idx, masks, sps = [], [], {k: [] for k in self.masks}, []
        sp_offset = 0
        for t, i in enumerate(sel):
            pts = read_bin(paths[i], np.float32, self.load_dim)
            if not np.isfinite(pts).all():
                raise ValueError(f'{paths[i]}: points contain NaN/Inf')
            if len(pts) == 0:
                fid = (results.get('frame_ids') or [i] * len(paths))[i]
                raise ValueError(f'{paths[i]}: frame {fid} of {results.get("scene_id")} has no '
                                 f'point; re-create the infos (create_data drops such frames)')
            points.append(pts[:, self.use_dim])
            frame_idx.append(np.full(len(pts), t, dtype=np.int64))
            for key in self.masks:
                masks[key].append(self._read(results[f'{key}_paths'][i], len(pts)))
            if self.with_sp:
                sp = self._read(results['super_pts_paths'][i], len(pts))
                sps.append(sp + sp_offset)
                sp_offset += int(sp.max(initial=-1)) + 1
        results['points'] = np.concatenate(points)
        results['frame_idx'] = np.concatenate(frame_idx)
        results['aug_matrix'] = np.eye(4)
        for key in self.masks:
            results[key] = np.concatenate(masks[key])
        if self.with_sp:
            results['sp_pts_mask'] = np.concatenate(sps)
        results['frame_sel'] = sel
        results['num_frames'] = len(sel)
        # per selected frame: True where it repeats the last frame of a short sequence
        results['frame_padded'] = [bool(t >= len(paths)) for t in range(len(sel))]
        for key in FRAME_LIST_KEYS:
            if results.get(key) is not None:
                results[key] = [results[key][i] for i in sel]
        if 'poses' in results:
            results['poses'] = np.asarray(results['poses'], dtype=np.float64)[sel]
        if self.load_scan:
            self._load_scan(results)
        return results

    @staticmethod
    def _read(path, n):
        arr = read_bin(path, np.int64)
        if arr.shape[0] != n:
            raise ValueError(f'{path}: {arr.shape[0]} values for {n} points')
        return arr

    def _load_scan(self, results):
        for key in ('scan_path', 'scan_instance_mask_path', 'scan_semantic_mask_path'):
            if not results.get(key):
                raise KeyError(f'sample {results.get("sample_idx")}: no {key} in the info '
                               f'(needed to evaluate on the reconstructed scan)')
        scan = read_bin(results['scan_path'], np.float32, 6)
        n = len(scan)
        sem = self._read(results['scan_semantic_mask_path'], n)
        ins = self._read(results['scan_instance_mask_path'], n)
        keep = np.ones(n, dtype=bool)
        if self.scan_region == 'observed':
            from scipy.spatial import cKDTree
            dist, _ = cKDTree(results['points'][:, :3]).query(
                scan[:, :3], distance_upper_bound=self.observed_radius)
            keep = np.isfinite(dist)
        results['scan_observed_fraction'] = float(keep.mean()) if n else 0.0
        results['scan_points'] = scan[keep, :3].copy()
        results['eval_ann_info'] = dict(pts_instance_mask=ins[keep],
                                        pts_semantic_mask=results['seg_label_mapping'][sem[keep]])

    def __repr__(self):
        return (f'{type(self).__name__}(num_frames={self.num_frames}, masks={self.masks}, '
                f'sp={self.with_sp}, load_scan={self.load_scan}, '
                f'scan_region={self.scan_region!r})')
