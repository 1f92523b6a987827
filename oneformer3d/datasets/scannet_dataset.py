"""ScanNet datasets reading ``create_data`` infos (reconstructed scans and single-view frames)."""
import os
import os.path as osp

from mmengine.dataset import BaseDataset

from oneformer3d.geometry import check_pose
from oneformer3d.metainfo import get_class_table
from .infos_io import load_infos
from oneformer3d.registry import DATASETS

DEFAULT_PREFIX = dict(pts='points', pts_instance_mask='instance_mask',
                      pts_semantic_mask='semantic_mask', sp_pts_mask='super_points')


@DATASETS.register_module()
class ScanNetSegDataset(BaseDataset):
    """ScanNet-20 instance/semantic segmentation samples (NYU40 raw ids on disk).

    Each info of ``ann_file`` (``{metainfo, data_list}``) becomes one sample; file names are
    joined with ``data_root/data_prefix[...]``. The class table comes from
    :mod:`oneformer3d.metainfo`; each sample carries ``seg_label_mapping`` (raw id -> train id)
    for :class:`PointSegClassMapping`.

    Raises:
        FileNotFoundError: naming ``ann_file`` (and how relative paths resolve) when missing.
        ValueError: naming ``ann_file`` when its infos were made for another class table.
    """
    CLASS_TABLE = 'scannet'

    def __init__(self, data_root: str = '', ann_file: str = '', data_prefix: dict = None,
                 pipeline=(), test_mode: bool = False, **kwargs):
        self.table = get_class_table(self.CLASS_TABLE)
        prefix = dict(DEFAULT_PREFIX, **(data_prefix or {}))
        super().__init__(ann_file=ann_file, data_root=data_root, data_prefix=prefix,
                         pipeline=list(pipeline), test_mode=test_mode,
                         metainfo=self.table.metainfo(), **kwargs)

    def load_data_list(self):
        """Read the infos with the allow-list unpickler (:func:`load_infos`), check the class
        table they were made for, and parse each entry."""
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'{self.ann_file}: infos file not found (data_root and ann_file are relative '
                f'to the current directory, {os.getcwd()}: run the tools from the repository '
                f'root or give absolute paths); make the infos with tools/create_data.py '
                f'(docs/data_preparation.md)')
        data = load_infos(self.ann_file)
        if not isinstance(data, dict) or 'data_list' not in data:
            raise ValueError(f'{self.ann_file}: not an infos file ({{metainfo, data_list}})')
        made_for = data.get('metainfo', {}).get('dataset')
        if made_for != self.table.name:
            raise ValueError(f'{self.ann_file}: infos were made for {made_for!r}, this dataset '
                             f'uses the {self.table.name!r} class table')
        for k, v in data.get('metainfo', {}).items():
            self._metainfo.setdefault(k, v)
        return [self.parse_data_info(info) for info in data['data_list']]

    def parse_data_info(self, info: dict) -> dict:
        if info.get('pose') is not None:              # a single posed frame
            why = check_pose(info['pose'])
            if why is not None:
                raise ValueError(f'{self.ann_file}: sample {info.get("sample_idx")}: {why} '
                                 f'(re-create the infos: create_data skips such frames)')
        p = self.data_prefix
        info = dict(info)
        info['lidar_points'] = dict(info['lidar_points'], lidar_path=osp.join(
            p['pts'], info['lidar_points']['lidar_path']))
        for key, pre in (('pts_instance_mask_path', 'pts_instance_mask'),
                         ('pts_semantic_mask_path', 'pts_semantic_mask'),
                         ('super_pts_path', 'sp_pts_mask')):
            if key in info:
                info[key] = osp.join(p[pre], info[key])
        for key in ('img_path', 'depth_path', 'clip_feat_path'):
            if info.get(key) is not None and not osp.isabs(info[key]):
                info[key] = osp.join(self.data_root, info[key])
        for key in ('img_paths', 'depth_paths', 'clip_feat_paths'):
            if info.get(key) is not None:
                info[key] = [p if osp.isabs(p) else osp.join(self.data_root, p)
                             for p in info[key]]
        info['data_root'] = self.data_root
        info['seg_label_mapping'] = self.table.seg_lut
        info['inst_label_mapping'] = self.table.seg_to_inst
        return info


@DATASETS.register_module()
class ScanNet200SegDataset(ScanNetSegDataset):
    """ScanNet200 samples (ScanNet200 raw ids on disk); see :class:`ScanNetSegDataset`."""
    CLASS_TABLE = 'scannet200'


def check_sequence(info: dict, source: str) -> None:
    """A sequence info's frames are in order and their poses rigid (:func:`~oneformer3d.
    geometry.check_pose`).

    Raises:
        ValueError: naming ``source``, the sample and the frame: a bad pose, or frame ids that
            are not increasing (an online model must see the frames in capture order; the
            infos are refused rather than silently re-sorted).
    """
    name = info.get('sample_idx')
    frames = list(info.get('frame_ids') or [])
    keys = [int(f) if str(f).isdigit() else str(f) for f in frames]
    for a, b, fa, fb in zip(keys, keys[1:], frames, frames[1:]):
        if not type(a) is type(b) or not a < b:
            raise ValueError(f'{source}: sample {name}: frame {fb} follows {fa}: frames must be '
                             f'in increasing capture order (re-create the infos with '
                             f'create_data)')
    for t, pose in enumerate(info.get('poses', [])):
        why = check_pose(pose)
        if why is not None:
            fid = frames[t] if t < len(frames) else t
            raise ValueError(f'{source}: sample {name}: frame {fid}: {why} (re-create the '
                             f'infos: create_data skips such frames)')


@DATASETS.register_module()
class ScanNetSegMVDataset(ScanNetSegDataset):
    """Posed sequences (``create_data.py scannet_mv``): one sample per scene with per-frame
    lists (``lidar_paths``, mask/superpoint paths, ``img_paths``, ``depth_paths``,
    ``poses``), read by :class:`LoadAdjacentDataFromFile`; ``scan_path`` and the scan's mask
    paths (evaluation on the reconstructed scan) are joined with the data root."""

    LIST_KEYS = (('lidar_paths', 'pts'), ('pts_instance_mask_paths', 'pts_instance_mask'),
                 ('pts_semantic_mask_paths', 'pts_semantic_mask'),
                 ('super_pts_paths', 'sp_pts_mask'))

    def parse_data_info(self, info: dict) -> dict:
        check_sequence(info, self.ann_file)
        p = self.data_prefix
        info = dict(info)
        for key, pre in self.LIST_KEYS:
            if key in info:
                info[key] = [osp.join(p[pre], name) for name in info[key]]
        for key in ('scan_path', 'scan_instance_mask_path', 'scan_semantic_mask_path',
                    'clip_feat_path'):
            if info.get(key) is not None and not osp.isabs(info[key]):
                info[key] = osp.join(self.data_root, info[key])
        for key in ('img_paths', 'depth_paths', 'clip_feat_paths'):
            if info.get(key) is not None:
                info[key] = [q if osp.isabs(q) else osp.join(self.data_root, q)
                             for q in info[key]]
        info['data_root'] = self.data_root
        info['seg_label_mapping'] = self.table.seg_lut
        info['inst_label_mapping'] = self.table.seg_to_inst
        return info


@DATASETS.register_module()
class ScanNet200SegMVDataset(ScanNetSegMVDataset):
    """ScanNet200 posed sequences; see :class:`ScanNetSegMVDataset`."""
    CLASS_TABLE = 'scannet200'
