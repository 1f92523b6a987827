"""``DINOFPNInjector``: a DINO feature pyramid on the U-Net's voxel grid, added into its
decoder (DITR-style)."""
from typing import Dict, Optional, Sequence

import MinkowskiEngine as ME
import torch
import torch.nn as nn

from oneformer3d.registry import MODELS
from ..layers import pool_rows, sample_points_img_feat

# "no valid projection" inside the pooling: below any feature; MinkowskiEngine's max pooling
# starts from the lowest float, so -inf would come out as -3.4e38 — test against a threshold
INVALID = -1e30


@MODELS.register_module()
class DINOFPNInjector(nn.Module):
    """Lift frozen 2D features onto the voxels, pool them into a pyramid that follows the
    U-Net's strides, and add a zero-initialised projection of each level into the decoder.

    Follows DITR (Zeid et al., "DINO in the Room", 2025: per-point DINOv2 features, max-pooled
    to the 3D network's strides and injected into its decoder); its code is not released, so
    the details below are ours:

    1. :meth:`prepare`: each point's feature from the frame's stored map (``clip_pix``,
       (B, C_in, H_f, W_f); bilinear at the projected uv,
       :func:`~oneformer3d.models.layers.sample_points_img_feat`) -> per voxel the **max**
       (or mean, ``pool``) over the voxel's validly projected points -> an
       ``ME.SparseTensor`` on the backbone input's coordinate manager (``tensor_stride=1``);
       ``MinkowskiMaxPooling`` (or average) kernel 2 / stride 2 on the same manager gives
       strides 2, 4, 8, whose coordinate maps are the encoder's (same keys, same rows).
       Voxels without a valid projection enter the pooling as -1e30 (a zero must not win
       over negative features) and leave it as 0.
    2. ``forward(point, stride, tensor)`` (the backbone's injector interface): at
       ``point == inject_at`` (``'upsampled'``, the decoder stage's upsampled tensor, our
       default; or ``'skip'``, the skip tensor it concatenates, DITR's choice) and a stride of
       ``strides`` (8, 4, 2, 1): ``tensor + W_s f_s`` with ``W_s`` a 1x1 projection
       ``C_in -> out_channels[s]``, **zero-initialised**, so a model loaded from a 3D
       checkpoint predicts exactly what the 3D model predicts before any step, and
       **bias-free**, so a voxel without a valid projection (``f_s = 0``) receives exactly 0
       at every step of training too (a bias would shift those voxels by a learnt constant).

    Args:
        in_channels: C_in of the stored maps (1024 for DINOv2 ViT-L/14).
        out_channels: ``{stride: channels}`` of the injected tensors (filled in by the
            detector from the backbone's ``decoder_channels()`` / ``skip_channels()``).
        inject_at: ``'upsampled'`` | ``'skip'``.
        pool: ``'max'`` | ``'mean'`` (per voxel and between levels).
        strides: decoder strides that receive the features.

    After :meth:`prepare`, :attr:`stats` holds ``valid_ratio`` (voxels with a valid
    projection at stride 1).

    Raises:
        ValueError: a map with another channel count (naming the file); RuntimeError: a level
        whose coordinate map is not the tensor's (a pyramid on another manager).
    """

    def __init__(self, in_channels: int, out_channels: Dict[int, int],
                 inject_at: str = 'upsampled', pool: str = 'max',
                 strides: Sequence[int] = (8, 4, 2, 1)):
        super().__init__()
        if inject_at not in ('upsampled', 'skip', 'input') or pool not in ('max', 'mean'):
            raise ValueError(f"DINOFPNInjector: inject_at 'upsampled'|'skip' and pool "
                             f"'max'|'mean', got {inject_at!r}, {pool!r}")
        self.in_channels, self.inject_at, self.pool = in_channels, inject_at, pool
        self.strides = tuple(int(s) for s in strides)
        out_channels = {int(k): v for k, v in out_channels.items()}
        self.proj = nn.ModuleDict()
        for s in self.strides:
            lin = nn.Linear(in_channels, out_channels[s], bias=False)
            nn.init.zeros_(lin.weight)
            self.proj[str(s)] = lin
        layer = ME.MinkowskiMaxPooling if pool == 'max' else ME.MinkowskiAvgPooling
        self.down = layer(kernel_size=2, stride=2, dimension=3)
        self.levels: Dict[int, ME.SparseTensor] = {}
        self.stats = {}

    @torch.no_grad()
    def prepare(self, x: ME.SparseTensor, inputs: dict) -> Dict[int, ME.SparseTensor]:
        """Build the pyramid for this batch (``x``: the backbone's stride-1 input)."""
        maps = inputs['clip_pix']
        paths = inputs.get('clip_feat_path') or [None] * len(inputs['points'])
        for pix, path in zip(maps, paths):
            if pix is None or pix.shape[-3] != self.in_channels:
                raise ValueError(f'{path}: 2D map with '
                                 f'{None if pix is None else pix.shape[-3]} channels, '
                                 f'DINOFPNInjector(in_channels={self.in_channels})')
        feats, valids = sample_points_img_feat(inputs['points'], maps, inputs['camera'],
                                               inputs.get('elastic_offset'))
        m = x.F.shape[0]
        vox, count = pool_rows(torch.cat(feats).to(x.F.dtype),
                               torch.cat(inputs['voxels']['point2voxel']), m,
                               'amax' if self.pool == 'max' else 'mean',
                               valid=torch.cat(valids), return_count=True)
        valid = count > 0
        vox[~valid] = INVALID        # kept out of the max-pooling down the strides
        level = ME.SparseTensor(features=vox, coordinate_map_key=x.coordinate_map_key,
                                coordinate_manager=x.coordinate_manager)
        raw = {1: level}
        for s in (2, 4, 8, 16):
            if s > max(self.strides):
                break
            raw[s] = self.down(raw[s // 2]) if self.pool == 'max' else self._mean_down(raw[s // 2])
        self.levels = {s: ME.SparseTensor(
            features=t.F.masked_fill_(t.F <= INVALID / 10, 0),     # fresh tensors, no grad
            coordinate_map_key=t.coordinate_map_key, coordinate_manager=t.coordinate_manager)
            for s, t in raw.items()}
        self.stats = dict(valid_ratio=valid.float().mean())
        return self.levels

    def _mean_down(self, t: ME.SparseTensor) -> ME.SparseTensor:
        """Average of the valid children (``INVALID`` = none) per coarser voxel."""
        ok = t.F[:, :1] > INVALID / 10
        feats = torch.where(ok, t.F, torch.zeros_like(t.F))
        both = ME.SparseTensor(features=torch.cat([feats, ok.float()], 1),
                               coordinate_map_key=t.coordinate_map_key,
                               coordinate_manager=t.coordinate_manager)
        pooled = ME.MinkowskiSumPooling(kernel_size=2, stride=2, dimension=3)(both)
        n = pooled.F[:, -1:]
        mean = torch.where(n > 0, pooled.F[:, :-1] / n.clamp(min=1),
                           torch.full_like(pooled.F[:, :-1], INVALID))
        return ME.SparseTensor(features=mean, coordinate_map_key=pooled.coordinate_map_key,
                               coordinate_manager=pooled.coordinate_manager)

    def forward(self, point: str, stride: int, tensor: ME.SparseTensor) -> ME.SparseTensor:
        if point != self.inject_at or stride not in self.strides:
            return tensor
        level: Optional[ME.SparseTensor] = self.levels.get(stride)
        if level is None:
            raise RuntimeError('DINOFPNInjector.prepare was not called for this batch')
        if level.coordinate_map_key != tensor.coordinate_map_key:
            raise RuntimeError(f'DINOFPNInjector: stride-{stride} pyramid level on '
                               f'{level.coordinate_map_key}, decoder tensor on '
                               f'{tensor.coordinate_map_key}')
        return ME.SparseTensor(features=tensor.F + self.proj[str(stride)](level.F),
                               coordinate_map_key=tensor.coordinate_map_key,
                               coordinate_manager=tensor.coordinate_manager)


@MODELS.register_module()
class DINOEarlyInjector(DINOFPNInjector):
    """DINO features at the U-Net's input (SegDINO3D / ESAM-E+FF-style early fusion): the
    per-voxel max (or mean) of the frame's stored map (:meth:`DINOFPNInjector.prepare`, stride
    1 only), reduced by a learnable ``Linear(in_channels -> out_channels)`` and concatenated
    to the voxel colours at the ``'input'`` hook point — the backbone's ``in_channels`` must be
    ``3 + out_channels``. The ``Linear`` is bias-free, so a voxel without a valid projection
    gets exactly 0 in the new channels at every step (the 3D path's input). Identity start
    from a 3D checkpoint: the stem's colour slices are copied from the parent and its new
    input channels start at zero (``load_policy=dict(zero_pad_keys=['backbone.conv0p1s1.*'])``,
    :func:`oneformer3d.engine.runner.load_into_model`).

    Args:
        in_channels: C_in of the stored maps (1024 for DINOv2 ViT-L/14).
        out_channels: the reduced width concatenated to the colours (an int).
        pool: ``'max'`` | ``'mean'``.
    """

    def __init__(self, in_channels: int, out_channels: int = 32, pool: str = 'max'):
        super().__init__(in_channels, {1: out_channels}, inject_at='input', pool=pool,
                         strides=(1,))
        self.reduce = self.proj.pop('1')
        nn.init.kaiming_uniform_(self.reduce.weight, a=5 ** 0.5)   # nn.Linear's default
        self.out_channels = out_channels

    def forward(self, point: str, stride: int, tensor: ME.SparseTensor) -> ME.SparseTensor:
        if point != 'input':
            return tensor
        level = self.levels.get(1)
        if level is None:
            raise RuntimeError('DINOEarlyInjector.prepare was not called for this batch')
        if level.coordinate_map_key != tensor.coordinate_map_key:
            raise RuntimeError('DINOEarlyInjector: features not on the input coordinate map')
        return ME.SparseTensor(features=torch.cat([tensor.F, self.reduce(level.F)], dim=1),
                               coordinate_map_key=tensor.coordinate_map_key,
                               coordinate_manager=tensor.coordinate_manager)
