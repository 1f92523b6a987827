"""Res16UNet34C (MinkowskiEngine), the sparse U-Net of Mask3D / OneFormer3D / ESAM.

Architecture (Choy et al., "4D Spatio-Temporal ConvNets", CVPR 2019; MinkowskiEngine
``examples/res16unet.py``; configuration of Mask3D/OneFormer3D): a stem conv, four stride-2
encoder stages and four transposed-conv decoder stages with skip concatenation;
``PLANES = (32, 64, 128, 256, 256, 128, 96, 96)``, ``LAYERS = (2, 3, 4, 6, 2, 2, 2, 2)`` of
basic residual blocks, ``INIT_DIM = 32``. Decoder stages end at tensor strides 8, 4, 2, 1.

Extension point: ``forward(x, injector=None)`` calls ``injector(stride, tensor)`` on each
decoder stage's upsampled tensor (before the skip concatenation) at strides 8, 4, 2, 1; it
must return a tensor with the same coordinates (e.g. ``tensor + zero_init_proj(feat2d)``).

Module names follow Mask3D's ``Res16UNetBase`` (``conv0p1s1``, ``bn0``, ``block1.0.conv1``,
``block1.0.norm1.bn``, ``convtr4p16s2``, ``bntr4``, ``final``, ...) so that the backbone part of
Mask3D's ``mask3d_scannet200.pth`` loads after stripping its key prefix
(:func:`mask3d_backbone_state_dict`).
"""
from collections import OrderedDict
from typing import Callable, Dict, Optional

import MinkowskiEngine as ME
import torch
import torch.nn as nn

from oneformer3d.registry import MODELS


class BasicBlock(nn.Module):
    """Residual block: two 3x3x3 sparse convs with BN; 1x1 projection when channels change."""
    expansion = 1

    def __init__(self, inplanes: int, planes: int, bn_momentum: float = 0.1, dilation: int = 1):
        super().__init__()
        self.conv1 = ME.MinkowskiConvolution(inplanes, planes, kernel_size=3, dilation=dilation,
                                             dimension=3)
        self.norm1 = ME.MinkowskiBatchNorm(planes, momentum=bn_momentum)
        self.conv2 = ME.MinkowskiConvolution(planes, planes, kernel_size=3, dilation=dilation,
                                             dimension=3)
        self.norm2 = ME.MinkowskiBatchNorm(planes, momentum=bn_momentum)
        self.relu = ME.MinkowskiReLU(inplace=True)
        self.downsample = None
        if inplanes != planes:
            self.downsample = nn.Sequential(
                ME.MinkowskiConvolution(inplanes, planes, kernel_size=1, dimension=3),
                ME.MinkowskiBatchNorm(planes, momentum=bn_momentum))

    def forward(self, x):
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


@MODELS.register_module()
class Res16UNet34C(nn.Module):
    """Sparse residual U-Net; see the module docstring.

    Args:
        in_channels: voxel feature channels (3 for RGB).
        out_channels: channels of the final 1x1 conv (OneFormer3D/ESAM: 32).
        conv1_kernel_size: stem kernel (OneFormer3D: 5).
        bn_momentum: BatchNorm momentum (OneFormer3D: 0.02).
        planes, layers: stage widths and depths (defaults = 34C).
        pretrained: optional path of a Mask3D checkpoint (e.g. ``mask3d_scannet200.pth``) or of
            a plain backbone state dict; loaded with ``weights_only=True`` through
            :func:`oneformer3d.utils.load_local_checkpoint`, mapped by
            :func:`mask3d_backbone_state_dict`, missing/unexpected keys logged.

    Input: ``ME.SparseTensor`` with tensor stride 1. Output of :meth:`forward`: the final
    ``ME.SparseTensor`` (stride 1, ``out_channels``) and ``{stride: decoder stage tensor}``.
    """
    PLANES = (32, 64, 128, 256, 256, 128, 96, 96)
    LAYERS = (2, 3, 4, 6, 2, 2, 2, 2)
    INIT_DIM = 32
    DECODER_STRIDES = (8, 4, 2, 1)

    def __init__(self, in_channels: int = 3, out_channels: int = 32, conv1_kernel_size: int = 5,
                 bn_momentum: float = 0.02, planes=PLANES, layers=LAYERS,
                 pretrained: Optional[str] = None):
        super().__init__()
        self.planes, self.layers = tuple(planes), tuple(layers)
        p, n, m = self.planes, self.layers, bn_momentum
        conv = ME.MinkowskiConvolution
        convtr = ME.MinkowskiConvolutionTranspose
        bn = ME.MinkowskiBatchNorm
        self.conv0p1s1 = conv(in_channels, self.INIT_DIM, kernel_size=conv1_kernel_size,
                              dimension=3)
        self.bn0 = bn(self.INIT_DIM, momentum=m)
        inplanes = self.INIT_DIM
        enc_out = []
        for i, name in enumerate(('conv1p1s2', 'conv2p2s2', 'conv3p4s2', 'conv4p8s2')):
            setattr(self, name, conv(inplanes, inplanes, kernel_size=2, stride=2, dimension=3))
            setattr(self, f'bn{i + 1}', bn(inplanes, momentum=m))
            setattr(self, f'block{i + 1}', self._make_layer(inplanes, p[i], n[i], m))
            inplanes = p[i]
            enc_out.append(inplanes)
        skips = [enc_out[2], enc_out[1], enc_out[0], self.INIT_DIM]
        for j, name in enumerate(('convtr4p16s2', 'convtr5p8s2', 'convtr6p4s2', 'convtr7p2s2')):
            setattr(self, name, convtr(inplanes, p[4 + j], kernel_size=2, stride=2, dimension=3))
            setattr(self, f'bntr{4 + j}', bn(p[4 + j], momentum=m))
            setattr(self, f'block{5 + j}',
                    self._make_layer(p[4 + j] + skips[j], p[4 + j], n[4 + j], m))
            inplanes = p[4 + j]
        self.final = conv(inplanes, out_channels, kernel_size=1, bias=True, dimension=3)
        self.relu = ME.MinkowskiReLU(inplace=True)
        self.out_channels = out_channels
        if pretrained:
            self.load_pretrained(pretrained)

    def load_pretrained(self, path: str) -> dict:
        """Load Mask3D (or plain) backbone weights; returns ``{'missing', 'unexpected',
        'mismatched'}`` key lists (also logged). Shape mismatches are skipped, not loaded."""
        from mmengine.logging import MMLogger

        from oneformer3d.utils import load_local_checkpoint
        ckpt = load_local_checkpoint(path, map_location='cpu')
        state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
        mapped = mask3d_backbone_state_dict(state) or dict(state)
        own = self.state_dict()
        mismatched = [k for k, v in mapped.items() if k in own and own[k].shape != v.shape]
        for k in mismatched:
            mapped.pop(k)
        result = self.load_state_dict(mapped, strict=False)
        report = dict(missing=list(result.missing_keys),
                      unexpected=list(result.unexpected_keys), mismatched=mismatched)
        MMLogger.get_current_instance().info(
            f'Res16UNet34C: loaded {len(mapped)} tensors from {path}; missing '
            f'{report["missing"]}, unexpected {report["unexpected"]}, shape-mismatched '
            f'{mismatched}')
        return report

    @staticmethod
    def _make_layer(inplanes: int, planes: int, blocks: int, bn_momentum: float) -> nn.Sequential:
        return nn.Sequential(*[BasicBlock(inplanes if i == 0 else planes, planes, bn_momentum)
                               for i in range(blocks)])

    def decoder_channels(self) -> Dict[int, int]:
        """``{stride: channels}`` of the tensors given to ``injector`` (upsampled, pre-skip)."""
        return dict(zip(self.DECODER_STRIDES, self.planes[4:]))

    def forward(self, x: ME.SparseTensor,
                injector: Optional[Callable[[int, ME.SparseTensor], ME.SparseTensor]] = None):
        out = self.relu(self.bn0(self.conv0p1s1(x)))
        skips = [out]
        for i in range(4):
            out = self.relu(getattr(self, f'bn{i + 1}')(
                getattr(self, ('conv1p1s2', 'conv2p2s2', 'conv3p4s2', 'conv4p8s2')[i])(out)))
            out = getattr(self, f'block{i + 1}')(out)
            skips.append(out)
        stages = OrderedDict()
        for j, stride in enumerate(self.DECODER_STRIDES):
            up = getattr(self, ('convtr4p16s2', 'convtr5p8s2', 'convtr6p4s2', 'convtr7p2s2')[j])
            out = self.relu(getattr(self, f'bntr{4 + j}')(up(out)))
            if injector is not None:
                out = injector(stride, out)
            out = ME.cat(out, skips[3 - j])
            out = getattr(self, f'block{5 + j}')(out)
            stages[stride] = out
        return self.final(out), stages


def mask3d_backbone_state_dict(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Select Mask3D's backbone weights and strip their prefix.

    Mask3D checkpoints (``mask3d_scannet200.pth``) keep the U-Net under ``model.backbone.``
    (Lightning) or ``backbone.``; parameter names below that prefix equal ours. Keys of other
    modules are dropped. Mask3D's ``final`` conv has 20/200-class-specific width in some
    releases; a shape mismatch there is reported by ``load_state_dict(strict=False)``.

    Returns:
        ``{our_key: tensor}``.
    """
    out = {}
    for key, value in state_dict.items():
        for prefix in ('model.backbone.', 'backbone.'):
            if key.startswith(prefix):
                out[key[len(prefix):]] = value
                break
    return out
