"""Res16UNet34C (MinkowskiEngine), the sparse U-Net of Mask3D / OneFormer3D / ESAM.

Architecture (Choy et al., "4D Spatio-Temporal ConvNets", CVPR 2019; MinkowskiEngine
``examples/res16unet.py``; configuration of Mask3D/OneFormer3D): a stem conv, four stride-2
encoder stages and four transposed-conv decoder stages with skip concatenation;
``PLANES = (32, 64, 128, 256, 256, 128, 96, 96)``, ``LAYERS = (2, 3, 4, 6, 2, 2, 2, 2)`` of
basic residual blocks, ``INIT_DIM = 32``. Decoder stages end at tensor strides 8, 4, 2, 1.

Extension point: ``forward(x, injector=None)`` calls ``injector(point, stride, tensor)`` on the
encoder outputs (``'encoder'``: strides 2, 4, 8, 16) and on each decoder stage's upsampled
tensor before the skip concatenation (``'upsampled'``: strides 8, 4, 2, 1) and on the skip
tensor each decoder stage concatenates (``'skip'``: strides 8, 4, 2, 1; DITR injects there); a
list of injectors is a chain applied in order. Each must return a tensor with the same coordinates
(e.g. ``tensor + zero_init_proj(feat2d)``).

Module names follow Mask3D's ``Res16UNetBase`` (``conv0p1s1``, ``bn0``, ``block1.0.conv1``,
``block1.0.norm1.bn``, ``convtr4p16s2``, ``bntr4``, ``final``, ...) so that the backbone part of
Mask3D's ``mask3d_scannet200.pth`` loads after stripping its key prefix
(:func:`mask3d_backbone_state_dict`).
"""
from collections import OrderedDict
from typing import Callable, Dict, Optional, Sequence, Union

import MinkowskiEngine as ME
import torch
import torch.nn as nn

from oneformer3d.registry import MODELS

# injector(point, stride, tensor) -> tensor, or a chain (list) of them; see Res16UNet34C.forward
Injector = Union[Callable[[str, int, ME.SparseTensor], ME.SparseTensor], Sequence[Callable]]


class BasicBlock(nn.Module):
    """Residual block: two 3x3x3 sparse convs with BN; 1x1 projection when channels change.

    As in Mask3D's ``_make_layer`` (and OneFormer3D's copy), the configured BN momentum reaches
    only the projection's BN; the blocks' own ``norm1``/``norm2`` keep ``block_bn_momentum``
    = 0.1.
    """
    expansion = 1

    def __init__(self, inplanes: int, planes: int, bn_momentum: float = 0.1, dilation: int = 1,
                 block_bn_momentum: float = 0.1):
        super().__init__()
        self.conv1 = ME.MinkowskiConvolution(inplanes, planes, kernel_size=3, dilation=dilation,
                                             dimension=3)
        self.norm1 = ME.MinkowskiBatchNorm(planes, momentum=block_bn_momentum)
        self.conv2 = ME.MinkowskiConvolution(planes, planes, kernel_size=3, dilation=dilation,
                                             dimension=3)
        self.norm2 = ME.MinkowskiBatchNorm(planes, momentum=block_bn_momentum)
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
        out_channels: ``None`` (default, as Mask3D / OneFormer3D / ESAM use it): the output is
            the last decoder block's features, ``PLANES[7]`` = 96 channels; their ``final``
            1x1 conv is built but never called in ``forward``. An int adds a ``final`` 1x1
            conv (with bias) to that many channels. Read the width from
            :attr:`out_channels`, never write it twice.
        conv1_kernel_size: stem kernel (OneFormer3D: 5).
        bn_momentum: BatchNorm momentum of the stem, stride-2, transposed and projection BNs
            (OneFormer3D: 0.02; the residual blocks' BNs use 0.1 as upstream, see
            :class:`BasicBlock`).
        planes, layers: stage widths and depths (defaults = 34C).
        pretrained: optional path of a Mask3D checkpoint (e.g. ``mask3d_scannet200.pth``) or of
            a plain backbone state dict; see :meth:`load_pretrained`.
        pretrained_max_missing: largest share of our keys the pretrained file may leave
            missing (0 = every tensor must load; e.g. 0.01 tolerates another stem).

    Input: ``ME.SparseTensor`` with tensor stride 1. Output of :meth:`forward`: the output
    ``ME.SparseTensor`` (stride 1, :attr:`out_channels`; rows in the input's coordinate order)
    and ``{stride: decoder stage tensor}``.
    """
    PLANES = (32, 64, 128, 256, 256, 128, 96, 96)
    LAYERS = (2, 3, 4, 6, 2, 2, 2, 2)
    INIT_DIM = 32
    DECODER_STRIDES = (8, 4, 2, 1)

    def __init__(self, in_channels: int = 3, out_channels: Optional[int] = None,
                 conv1_kernel_size: int = 5,
                 bn_momentum: float = 0.02, planes=PLANES, layers=LAYERS,
                 pretrained: Optional[str] = None, pretrained_max_missing: float = 0.0):
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
        self.final = None
        if out_channels is not None:
            self.final = conv(inplanes, out_channels, kernel_size=1, bias=True, dimension=3)
        self.relu = ME.MinkowskiReLU(inplace=True)
        self.out_channels = out_channels if out_channels is not None else inplanes
        self.pretrained_max_missing = pretrained_max_missing
        if pretrained:
            self.load_pretrained(pretrained)

    def load_pretrained(self, path: str) -> 'LoadReport':
        """Load Mask3D (or plain) backbone weights, strictly by default.

        The checkpoint is read with ``weights_only=True``
        (:func:`oneformer3d.utils.load_local_checkpoint`), mapped by
        :func:`mask3d_backbone_state_dict` (or taken as is when it has no Mask3D prefix), and
        loaded through :func:`oneformer3d.utils.load_report.load_state_dict_checked`: shape
        mismatches are skipped, the report is logged. Keys the checkpoint has and we do not
        (Mask3D's unused ``final`` conv) are reported, not fatal.

        Raises:
            ValueError: with the report, when no tensor loads or more than
                ``pretrained_max_missing`` (constructor argument, default 0) of our keys are
                missing or shape-mismatched.
        """
        from mmengine.logging import MMLogger

        from oneformer3d.utils import load_local_checkpoint
        from oneformer3d.utils.load_report import checkpoint_state_dict, load_state_dict_checked
        state = checkpoint_state_dict(load_local_checkpoint(path, map_location='cpu'), path)
        mapped = mask3d_backbone_state_dict(state) or dict(state)
        report = load_state_dict_checked(self, mapped, f'Res16UNet34C pretrained {path}',
                                         MMLogger.get_current_instance())
        return report.check(max_missing_fraction=self.pretrained_max_missing, hint=(
            'Res16UNet34C expects Mask3D\'s backbone (keys under model.backbone.) or a plain '
            'backbone state dict; raise pretrained_max_missing to accept a partial load.'))

    @staticmethod
    def _make_layer(inplanes: int, planes: int, blocks: int, bn_momentum: float) -> nn.Sequential:
        return nn.Sequential(*[BasicBlock(inplanes if i == 0 else planes, planes, bn_momentum)
                               for i in range(blocks)])

    ENCODER_STRIDES = (2, 4, 8, 16)

    def encoder_channels(self) -> Dict[int, int]:
        """``{stride: channels}`` of the encoder outputs given to ``injector('encoder', ...)``
        (the skip tensors at 2, 4, 8 and the bottleneck at 16)."""
        return dict(zip(self.ENCODER_STRIDES, self.planes[:4]))

    def decoder_channels(self) -> Dict[int, int]:
        """``{stride: channels}`` of the tensors given to ``injector('upsampled', ...)``
        (each decoder stage's upsampled tensor, before the skip concatenation)."""
        return dict(zip(self.DECODER_STRIDES, self.planes[4:]))

    def skip_channels(self) -> Dict[int, int]:
        """``{stride: channels}`` of the skip tensors given to ``injector('skip', ...)``
        (concatenated by the decoder stages at strides 8, 4, 2, 1)."""
        return dict(zip(self.DECODER_STRIDES, (self.planes[2], self.planes[1], self.planes[0],
                                               self.INIT_DIM)))

    def forward(self, x: ME.SparseTensor, injector: Optional[Injector] = None):
        """Run the U-Net.

        Args:
            x: input ``ME.SparseTensor`` (tensor stride 1).
            injector: ``None``, a callable ``injector(point, stride, tensor) -> tensor`` or a
                list of them (a chain, applied in order). It is called with
                ``point='input'`` on the input (stride 1; it may add channels, which
                ``in_channels`` must count); with ``point='encoder'`` on each encoder output
                (strides 2, 4, 8 — the skips — and 16, the bottleneck) once the encoder has
                run (ESAM's memory acts there); with ``point='upsampled'`` on each decoder
                stage's upsampled tensor before the skip concatenation and ``point='skip'``
                on the skip tensor it concatenates (strides 8, 4, 2, 1). It must return a
                tensor with the same coordinates (e.g. ``tensor + zero_init_proj(features)``)
                and return other points unchanged.

        Returns:
            The output tensor and ``{stride: decoder stage tensor}`` (8, 4, 2, 1).
        """
        hooks = injector if isinstance(injector, (list, tuple)) else \
            ([injector] if injector is not None else [])

        def inject(point, stride, t):
            for hook in hooks:
                t = hook(point, stride, t)
            return t

        x = inject('input', 1, x)           # e.g. per-voxel 2D features concatenated (DINO-early)
        out = self.relu(self.bn0(self.conv0p1s1(x)))
        skips = [out]
        for i in range(4):
            out = self.relu(getattr(self, f'bn{i + 1}')(
                getattr(self, ('conv1p1s2', 'conv2p2s2', 'conv3p4s2', 'conv4p8s2')[i])(out)))
            out = getattr(self, f'block{i + 1}')(out)
            skips.append(out)
        for i, stride in enumerate(self.ENCODER_STRIDES):
            skips[i + 1] = inject('encoder', stride, skips[i + 1])
        out = skips[4]
        stages = OrderedDict()
        for j, stride in enumerate(self.DECODER_STRIDES):
            up = getattr(self, ('convtr4p16s2', 'convtr5p8s2', 'convtr6p4s2', 'convtr7p2s2')[j])
            out = inject('upsampled', stride, self.relu(getattr(self, f'bntr{4 + j}')(up(out))))
            out = ME.cat(out, inject('skip', stride, skips[3 - j]))
            out = getattr(self, f'block{5 + j}')(out)
            stages[stride] = out
        return (self.final(out) if self.final is not None else out), stages


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
