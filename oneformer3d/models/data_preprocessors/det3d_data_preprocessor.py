"""``Det3DDataPreprocessor``: collate point clouds and voxelize them on their own device;
stack stored 2D features and camera info, computing missing features online."""
import logging
from typing import List, Optional

import torch
from mmengine.model import BaseDataPreprocessor

from oneformer3d.registry import MODELS
from ..layers.pool_rows import pool_rows

logger = logging.getLogger('oneformer3d')


def voxelize(points: List[torch.Tensor], voxel_size: float, feat_slice=slice(3, None)) -> dict:
    """Sparse voxelization of a batch (runs on the points' device; no ``.cuda()``).

    Args:
        points: per sample (N_i, C) float; columns 0:3 are xyz in metres.
        voxel_size: metres.
        feat_slice: point columns averaged into voxel features (default: colours).

    Returns:
        ``coordinates`` (M, 4) int32 ``[batch, i, j, k]`` (unique), ``features`` (M, F) float,
        ``point2voxel`` list of (N_i,) int64 indices into the M voxels.
    """
    keys, feats = [], []
    for b, pts in enumerate(points):
        ijk = torch.floor(pts[:, :3] / voxel_size).to(torch.int32)
        keys.append(torch.cat([torch.full_like(ijk[:, :1], b), ijk], dim=1))
        feats.append(pts[:, feat_slice])
    keys = torch.cat(keys)
    feats = torch.cat(feats)
    coords, inverse = torch.unique(keys, dim=0, return_inverse=True)
    vfeat = pool_rows(feats, inverse, coords.shape[0], 'mean')
    sizes = [len(p) for p in points]
    return dict(coordinates=coords.to(torch.int32), features=vfeat,
                point2voxel=list(torch.split(inverse, sizes)))


def collate_voxels(per_sample: List[dict]) -> dict:
    """One batch from per-sample :func:`voxelize` outputs (each of one sample, batch index
    0): batch index ``b`` in the coordinates, ``point2voxel`` offset by the rows before.
    Equal to :func:`voxelize` of all the samples' points (unique keys sort by batch first)."""
    coords, feats, p2v, offset = [], [], [], 0
    for b, v in enumerate(per_sample):
        c = v['coordinates'].clone()
        c[:, 0] = b
        coords.append(c)
        feats.append(v['features'])
        p2v.append(v['point2voxel'][0] + offset)
        offset += c.shape[0]
    return dict(coordinates=torch.cat(coords), features=torch.cat(feats), point2voxel=p2v)


@MODELS.register_module()
class Det3DDataPreprocessor(BaseDataPreprocessor):
    """Move a pseudo-collated batch to the model's device and voxelize it.

    Input ``data``: ``{'inputs': {'points': [ (N_i, C) ], ...}, 'data_samples': [...]}``.
    Output ``inputs``: ``points``, ``voxels`` (:func:`voxelize`); for multi-view samples,
    which carry ``frame_idx``, ``frame_voxels`` instead — per sample, per frame the
    :func:`voxelize` output of that frame's points (the model runs frame by frame and
    batches a frame with :func:`collate_voxels`) — and ``frame_idx`` / ``scan_points`` pass
    through; when the pipeline
    loaded 2D features (:class:`~oneformer3d.datasets.transforms.LoadClipFeature`):

    * ``clip_pix``: (B, C, H_f, W_f) float32 (SV) or (B, T, C, H_f, W_f) (MV) when every map
      has the same shape, else a list of per-sample tensors; ``clip_global`` likewise.
    * ``camera``: ``intrinsic`` (B[, T], 3, 3), ``pose`` (B[, T], 4, 4) camera-to-world,
      ``aug_matrix`` (B, 4, 4), ``img_shape`` (B[, T], 2) ``(H, W)``, ``stride`` (B[, T], 2)
      ``(s_x, s_y)`` float64 — what
      :func:`~oneformer3d.models.layers.sample_points_img_feat` needs.
    * ``elastic_offset``: list of per-sample (N_i, 3) or None.
    * ``clip_feat_path``: per sample the feature file (SV) or list of files (MV), for errors.

    Frames marked ``clip_missing`` get their features computed here by ``img_encoder`` (a
    registered frozen encoder, e.g. ``dict(type='OpenClipViT', pretrained=FILE)``) from
    ``inputs['img']``; ``self.online_computed`` counts them.

    Args:
        voxel_size: metres (ESAM/OneFormer3D ScanNet: 0.02).
        feat_start: first point column used as voxel feature (3 = rgb after xyz).
        img_encoder: config of the online fallback encoder; None = a missing file is an error
            here (raised naming the file) unless ``online_in_model``.
        online_in_model: leave the maps of missing files None (stride NaN) and pass the
            loaded images on as ``inputs['img']`` (per sample (3, H, W) uint8, or a tuple per
            frame): the model's ``BiFusionEncoder(img_encoder=...)`` computes them, inside
            the model so that its trainable blocks train (``freeze_blocks``).
    """

    def __init__(self, voxel_size: float = 0.02, feat_start: int = 3,
                 img_encoder: Optional[dict] = None, online_in_model: bool = False):
        super().__init__()
        self.online_in_model = online_in_model
        self.voxel_size = voxel_size
        self.feat_start = feat_start
        self.img_encoder = MODELS.build(img_encoder) if img_encoder else None
        self.online_computed = 0

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        points = data['inputs']['points']
        inputs = dict(points=points)
        if 'frame_idx' in data['inputs']:       # MV: each frame voxelized on its own
            for key in ('frame_idx', 'scan_points'):
                if key in data['inputs']:
                    inputs[key] = data['inputs'][key]
            inputs['frame_voxels'] = [
                [self.voxelize_points([p[f == t]])
                 for t in range(int(f.max()) + 1 if len(f) else 0)]
                for p, f in zip(points, inputs['frame_idx'])]
        else:
            inputs['voxels'] = self.voxelize_points(points)
        if 'clip_pix' in data['inputs']:
            inputs.update(self.collate_img_features(data['inputs'], data['data_samples']))
        return dict(inputs=inputs, data_samples=data['data_samples'])

    def voxelize_points(self, points: List[torch.Tensor]) -> dict:
        """:func:`voxelize` with this preprocessor's ``voxel_size`` and feature columns (also
        what a streaming session calls for a raw frame)."""
        return voxelize(points, self.voxel_size, slice(self.feat_start, None))

    # ---- 2D features -------------------------------------------------------------------
    def _online(self, img: Optional[torch.Tensor], path: str) -> Optional[torch.Tensor]:
        if self.img_encoder is None and self.online_in_model:
            return None                     # the model computes it
        if self.img_encoder is None:
            raise RuntimeError(f'{path}: no stored 2D features and no img_encoder configured '
                               f'in the data preprocessor to compute them online')
        if img is None:
            raise RuntimeError(f'{path}: no stored 2D features and the image was not loaded '
                               f'(LoadClipFeature(load_image_on_miss=True))')
        self.online_computed += 1
        return self.img_encoder(img[None].to(self.device))['pix'][0].float()

    def collate_img_features(self, inputs: dict, samples: list) -> dict:
        """See the class docstring; fills missing maps and sets their strides in the camera
        (and the samples' ``clip_stride``)."""
        pix_out, glob_out = [], []
        camera = {k: torch.stack(list(v)).to(self.device) for k, v in inputs['camera'].items()}
        for b, sample in enumerate(samples):
            missing = sample.metainfo.get('clip_missing', False)
            multi = isinstance(missing, (list, tuple))
            pix, glob = inputs['clip_pix'][b], inputs['clip_global'][b]
            if not multi:
                if missing:
                    pix = self._online(inputs['img'][b], sample.metainfo['clip_feat_path'])
                    h, w = camera['img_shape'][b].tolist()
                    stride = ((float('nan'),) * 2 if pix is None
                              else (w / pix.shape[-1], h / pix.shape[-2]))
                    camera['stride'][b] = torch.tensor(stride, dtype=camera['stride'].dtype)
                    sample.set_metainfo(dict(clip_stride=stride))
                pix_out.append(None if pix is None else pix.float())
                glob_out.append(None if glob is None else glob.float())
                continue
            views, strides = [], list(sample.metainfo['clip_stride'])
            for t, miss in enumerate(missing):
                if miss:
                    v = self._online(inputs['img'][b][t], sample.metainfo['clip_feat_path'][t])
                    h, w = camera['img_shape'][b, t].tolist()
                    strides[t] = (float('nan'),) * 2 if v is None else (
                        w / v.shape[-1], h / v.shape[-2])
                    camera['stride'][b, t] = torch.tensor(strides[t],
                                                          dtype=camera['stride'].dtype)
                else:
                    v = pix[t]
                views.append(None if v is None else v.float())
            sample.set_metainfo(dict(clip_stride=strides))
            pix_out.append(torch.stack(views) if all(v is not None for v in views) else views)
            glob_out.append(glob.float() if isinstance(glob, torch.Tensor) else None)
        widths = {int(v.shape[-3]) for p in pix_out
                  for v in (p if isinstance(p, list) else [p]) if v is not None}
        if len(widths) > 1:   # stored and online maps (or two stores) of different encoders
            files = [s.metainfo.get('clip_feat_path') for s in samples]
            raise ValueError(f'2D feature maps of {sorted(widths)} channels in one batch '
                             f'({files}); stored features and the online img_encoder must be '
                             f'the same encoder/layer')
        out = dict(clip_pix=_stack_if_same(pix_out), clip_global=_stack_if_same(glob_out),
                   camera=camera, elastic_offset=inputs.get('elastic_offset'),
                   clip_feat_path=[s.metainfo.get('clip_feat_path') for s in samples])
        if self.online_in_model and inputs.get('img') is not None:
            out['img'] = inputs['img']
        return out


def _stack_if_same(tensors: list):
    if tensors and all(isinstance(t, torch.Tensor) and t.shape == tensors[0].shape
                       for t in tensors):
        return torch.stack(tensors)
    return tensors
