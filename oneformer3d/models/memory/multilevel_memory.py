"""``MultilevelMemory``: accumulate U-Net decoder features over the frames of a sequence.

After ESAM (Xu et al., "EmbodiedSAM: Online Segment Any 3D Thing in Real Time", ICLR 2025,
``MultilevelMemory``): at each decoder level the current frame's sparse tensor is fused with
the features the scene has accumulated at the same voxels. Frames of a sequence share one world
frame, so voxel coordinates at a given ``tensor_stride`` index the same space in every frame.

Per sample and level the state is a sorted table of voxel keys and their latest features:
bounded by the scanned volume at that stride, not by the number of frames.
Fusion at the current voxels: ``x + zero_init(conv3(memory_at(x)))`` (a 3×3×3 sparse conv
with BN and ReLU on the remembered features, then a zero-initialised linear layer — the
model equals the single-view one before training). The table is then updated with the fused
features (detached: no gradient flows into earlier frames).
"""
from typing import Dict, Sequence

import MinkowskiEngine as ME
import torch
import torch.nn as nn

from oneformer3d.registry import MODELS

_OFF, _BITS = 1 << 20, 21


def voxel_keys(coords: torch.Tensor) -> torch.Tensor:
    """(N, 3) int voxel coordinates (|c| < 2^20) -> (N,) int64 keys, order-preserving per
    axis (x major)."""
    c = coords.to(torch.int64) + _OFF
    return (c[:, 0] << (2 * _BITS)) | (c[:, 1] << _BITS) | c[:, 2]


@MODELS.register_module()
class MultilevelMemory(nn.Module):
    """See the module docstring; used as the backbone's ``injector``.

    Args:
        in_channels: ``{stride: channels}`` of the decoder stages (``backbone.decoder_channels()``)
            or a list in the order of ``strides``.
        strides: decoder strides with memory (subset of 8, 4, 2, 1).
        kernel_size: sparse conv kernel on the remembered features.

    Call ``reset()`` at the start of every sequence.
    """

    def __init__(self, in_channels, strides: Sequence[int] = (8, 4, 2), kernel_size: int = 3):
        super().__init__()
        if not isinstance(in_channels, dict):
            in_channels = dict(zip(strides, in_channels))
        self.strides = tuple(int(s) for s in strides)
        self.convs = nn.ModuleDict()
        self.outs = nn.ModuleDict()
        for s in self.strides:
            c = in_channels[s]
            self.convs[str(s)] = nn.Sequential(
                ME.MinkowskiConvolution(c, c, kernel_size=kernel_size, dimension=3),
                ME.MinkowskiBatchNorm(c), ME.MinkowskiReLU())
            out = nn.Linear(c, c)
            nn.init.zeros_(out.weight)
            nn.init.zeros_(out.bias)
            self.outs[str(s)] = out
        self.state: Dict[tuple, tuple] = {}

    def reset(self):
        """Forget everything (a new sequence)."""
        self.state = {}

    def state_nbytes(self) -> int:
        return sum(k.numel() * k.element_size() + f.numel() * f.element_size()
                   for k, f in self.state.values())

    def forward(self, stride: int, x: ME.SparseTensor) -> ME.SparseTensor:
        if stride not in self.strides:
            return x
        coords = x.C
        remembered = torch.zeros_like(x.F)
        keys_all = voxel_keys(torch.div(coords[:, 1:], stride, rounding_mode='floor'))
        for b in torch.unique(coords[:, 0]).tolist():
            rows = torch.nonzero(coords[:, 0] == b).squeeze(1)
            entry = self.state.get((b, stride))
            if entry is not None:
                mkeys, mfeat = entry
                pos = torch.searchsorted(mkeys, keys_all[rows]).clamp(max=len(mkeys) - 1)
                hit = mkeys[pos] == keys_all[rows]
                remembered[rows[hit]] = mfeat[pos[hit]].to(x.F.dtype)
        mem = ME.SparseTensor(features=remembered, coordinate_map_key=x.coordinate_map_key,
                              coordinate_manager=x.coordinate_manager)
        fused_f = x.F + self.outs[str(stride)](self.convs[str(stride)](mem).F)
        for b in torch.unique(coords[:, 0]).tolist():
            rows = torch.nonzero(coords[:, 0] == b).squeeze(1)
            self._store((b, stride), keys_all[rows], fused_f[rows].detach())
        return ME.SparseTensor(features=fused_f, coordinate_map_key=x.coordinate_map_key,
                               coordinate_manager=x.coordinate_manager)

    def _store(self, key, keys, feats):
        if key in self.state:
            old_k, old_f = self.state[key]
            keep = ~torch.isin(old_k, keys)          # the current frame overwrites its voxels
            keys = torch.cat([old_k[keep], keys])
            feats = torch.cat([old_f[keep], feats])
        order = torch.argsort(keys)
        self.state[key] = (keys[order], feats[order])
