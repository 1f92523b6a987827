"""``BiFusionEncoder``: a sparse 3D U-Net and a 2D branch on the frame's stored feature map,
fused per voxel with a gate and a geometric positional encoding."""
from typing import Optional

import MinkowskiEngine as ME
import torch
import torch.nn as nn

from oneformer3d.registry import MODELS
from oneformer3d.utils.compat import amp_dtype_for
from ..layers import pool_rows, sample_points_img_feat


@MODELS.register_module()
class BiFusionEncoder(nn.Module):
    """3D backbone + 2D branch, fused; takes the backbone's place in :class:`OneFormer3D`.

    Data flow (shapes for one batch of M voxels, N_i points per sample):

    1. 3D: ``backbone3d`` (e.g. ``Res16UNet34C``) on the voxels, fp32 with autocast off
       (MinkowskiEngine kernels take fp32 only) -> ``F3`` (M, C3), C3 = its ``out_channels``.
    2. 2D: the stored map ``clip_pix`` (B, C_in, H_f, W_f), or (B, T, C_in, H_f, W_f) for
       multi-view samples (e.g. CLIP ViT-B/16 after PixelShuffle x2: C_in = 192, stride 8)
       -> ``conv_reduce`` (1x1 conv C_in -> ``reduce_channels``, BN, ReLU; the
       channel-agnostic input adapter: any C_in, set by ``img_channels``) -> optional
       ``TinySA2D`` -> per-point bilinear sample at the projected uv
       (:func:`~oneformer3d.models.layers.sample_points_img_feat`: the points brought back
       before augmentation, ``pose`` camera-to-world, ``intrinsic``, ``u_f = (u + 0.5)/s -
       0.5``; a point seen in several views averages them) -> per-voxel mean over the
       voxel's validly projected points -> ``F2`` (M, reduce_channels). Steps of this branch
       run under autocast when ``use_amp``.
    3. Fusion (fp32): ``f3 = proj3d(F3)``, ``f2 = proj2d(F2)`` (Linear to ``out_channels``),
       ``fused = g f2 + (1 - g) f3`` with the per-voxel gate ``g`` of
       :class:`LiteFusionGate` (or ``fused = f3 + g f2``, :class:`ResidualFusionGate`, the
       ablation's identity start) where at least one of the voxel's points projects validly,
       ``fused = f3`` exactly elsewhere; ``out = fused + GeoPE(xyz)`` with ``xyz`` the mean
       position of the voxel's points (metres, the network's frame).

    Args:
        backbone3d: sparse backbone config (its ``out_channels`` gives C3).
        img_channels: C_in of the 2D maps (192 for the stored CLIP ViT-B/16 map; 768/1024
            for DINOv2; 3 for an RGB-patch store). A map of another width raises.
        img_stride: expected image pixels per feature cell (e.g. 8); None = not checked. A
            map whose recorded stride differs by more than 5 % raises.
        reduce_channels: width after ``conv_reduce`` (256).
        out_channels: fused width given to the neck/decoder (128).
        tiny_sa_2d: optional ``TinySA2D`` config (``channels`` filled in); None = off.
        gate: gate config (``channels`` filled in; default ``LiteFusionGate``).
        geo_pe: ``GeoPE`` config (``out_channels`` filled in) or None.
        use_amp: run the 2D branch's dense layers under autocast (bf16 on CPU, fp16 on GPU).
        img_encoder: optional encoder config (e.g. ``dict(type='OpenClipViT',
            pretrained=FILE)``, the one that wrote the store) computing the map of a frame
            whose stored file is missing, from its image (the data preprocessor with
            ``online_in_model=True`` leaves such maps None and passes the images on). Counted
            in ``stats['online_maps']``.
        freeze_blocks: 0 = the ``img_encoder`` is fully frozen; N > 0 trains its last N
            blocks (``trainable_blocks``) and then computes **every** frame's map online
            (stored maps are ignored: they would not train the blocks), so the pipeline must
            load every image (``LoadClipFeature(always_load_image=True)``).
        identity_init: start as the 3D parent (the fusion ablation's rule: a route predicts
            exactly what its parent predicts before the first step): ``proj3d`` = [I; 0]
            (the identity on the U-Net's C3 channels, zero rows above them; needs
            ``out_channels >= C3``, and ``out_channels == C3`` keeps the parent's neck,
            pooling and decoder widths so they load unchanged), zero bias; ``proj2d`` zero
            (weight and bias), so ``f2 = 0``; with :class:`ResidualFusionGate` (``f3 + g f2``)
            and a zero-initialised ``GeoPE`` the output is exactly ``F3``. False: PyTorch's
            default initialisation of both projections.

    ``forward(x, inputs, injector)`` returns an ``ME.SparseTensor`` (M, ``out_channels``) on
    ``x``'s coordinate manager (rows in ``x``'s order). After each call :attr:`stats` holds
    ``valid_ratio`` (share of voxels with a valid projection), ``gate_2d`` (mean ``g`` over
    valid voxels: the 2D share), ``frames_without_projection`` (count so far).

    Raises:
        ValueError: naming the feature file(s) when a map's channel count or stride
            disagrees with the config; KeyError (from the data preprocessor) when a camera
            entry is missing.
    """

    def __init__(self, backbone3d: dict, img_channels: int = 192,
                 img_stride: Optional[float] = None, reduce_channels: int = 256,
                 out_channels: int = 128, tiny_sa_2d: Optional[dict] = None,
                 gate: Optional[dict] = None, geo_pe: Optional[dict] = dict(type='GeoPE'),
                 use_amp: bool = False, img_encoder: Optional[dict] = None,
                 freeze_blocks: int = 0, identity_init: bool = False):
        super().__init__()
        self.backbone3d = MODELS.build(backbone3d)
        self.img_channels, self.img_stride = img_channels, img_stride
        self.out_channels = out_channels
        self.use_amp = use_amp
        self.conv_reduce = nn.Sequential(
            nn.Conv2d(img_channels, reduce_channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(reduce_channels), nn.ReLU(inplace=True))
        self.tiny_sa_2d = MODELS.build(dict(tiny_sa_2d, channels=reduce_channels)) \
            if tiny_sa_2d else None
        self.proj2d = nn.Linear(reduce_channels, out_channels)
        self.proj3d = nn.Linear(self.backbone3d.out_channels, out_channels)
        if identity_init:
            self._init_identity()
        self.gate = MODELS.build(dict(dict(type='LiteFusionGate'), **(gate or {}),
                                      channels=out_channels))
        self.geo_pe = MODELS.build(dict(geo_pe, out_channels=out_channels)) if geo_pe else None
        self.img_encoder = MODELS.build(img_encoder) if img_encoder else None
        self.freeze_blocks = freeze_blocks
        if freeze_blocks:
            if self.img_encoder is None:
                raise ValueError('BiFusionEncoder(freeze_blocks > 0) needs an img_encoder')
            for module in self.img_encoder.trainable_blocks(freeze_blocks):
                module.requires_grad_(True)
        self.frames_without_projection = 0
        self.online_maps = 0
        self.stats = {}

    @torch.no_grad()
    def _init_identity(self) -> None:
        c3, c = self.proj3d.in_features, self.proj3d.out_features
        if c < c3:
            raise ValueError(f'BiFusionEncoder(identity_init=True) carries the U-Net\'s {c3} '
                             f'channels unchanged: out_channels={c} must be >= {c3}')
        self.proj3d.weight.zero_()
        self.proj3d.weight[:c3].copy_(torch.eye(c3))
        self.proj3d.bias.zero_()
        self.proj2d.weight.zero_()
        self.proj2d.bias.zero_()

    # ---------------------------------------------------------------- 2D branch
    def _check_map(self, pix: torch.Tensor, stride, paths) -> None:
        if pix.shape[-3] != self.img_channels:
            raise ValueError(f'{paths}: 2D feature map with {pix.shape[-3]} channels, the '
                             f'config expects BiFusionEncoder(img_channels='
                             f'{self.img_channels}) (another encoder or layer?)')
        if self.img_stride is not None:
            s = torch.as_tensor(stride, dtype=torch.float64)
            if ((s - self.img_stride).abs() > 0.05 * self.img_stride).any():
                raise ValueError(f'{paths}: 2D feature map stride {s.tolist()} image pixels '
                                 f'per cell, the config expects img_stride={self.img_stride}')

    def reduce(self, pix: torch.Tensor) -> torch.Tensor:
        """``conv_reduce`` (+ ``TinySA2D``) on (..., C_in, H_f, W_f) -> (..., C_r, H_f, W_f)."""
        lead = pix.shape[:-3]
        y = self.conv_reduce(pix.reshape(-1, *pix.shape[-3:]))
        if self.tiny_sa_2d is not None:
            y = self.tiny_sa_2d(y)
        return y.reshape(*lead, *y.shape[-3:])

    def online_map(self, img, path) -> torch.Tensor:
        """The frame's map (C_in, H_f, W_f) from its uint8 image ((3, H, W) tensor or
        (H, W, 3) array) by ``img_encoder`` (with gradients into its trainable blocks when
        ``freeze_blocks`` > 0 and training)."""
        if self.img_encoder is None:
            raise ValueError(f'{path}: no stored 2D feature map and no img_encoder in the '
                             f'BiFusionEncoder to compute it online')
        if img is None:
            raise ValueError(f'{path}: no image loaded to compute the 2D map online '
                             f'(LoadClipFeature(load_image_on_miss=True), or '
                             f'always_load_image=True with freeze_blocks > 0)')
        img = torch.as_tensor(img)
        if img.dim() == 3 and img.shape[-1] == 3 and img.shape[0] != 3:
            img = img.permute(2, 0, 1)
        device = self.conv_reduce[0].weight.device
        with torch.set_grad_enabled(self.training and self.freeze_blocks > 0):
            pix = self.img_encoder.encode_images(img[None].to(device))[0]
        self.online_maps += 1
        return pix.float()

    def point_features(self, inputs: dict):
        """Per-sample per-point 2D features (N_i, C_r) float32 and validity (N_i,) bool;
        maps missing (None) or, with ``freeze_blocks`` > 0, all maps are computed online."""
        maps = inputs['clip_pix']
        paths = inputs.get('clip_feat_path')
        per_sample = list(maps) if maps is not None else [None] * len(inputs['points'])
        camera = dict(inputs['camera'])
        stride = camera['stride'].clone()
        reduced = []
        device = inputs['points'][0].device
        for b, pix in enumerate(per_sample):
            path = paths[b] if paths else f'sample {b}'
            if pix is None or self.freeze_blocks:
                imgs = inputs.get('img')
                pix = self.online_map(None if imgs is None else imgs[b], path)
                h, w = (float(v) for v in camera['img_shape'][b])
                stride[b] = torch.tensor([w / pix.shape[-1], h / pix.shape[-2]],
                                         dtype=stride.dtype)
            self._check_map(pix, stride[b], path)
            with torch.autocast(device.type, dtype=amp_dtype_for(device.type),
                                enabled=self.use_amp):
                reduced.append(self.reduce(pix.float()[None])[0].float())
        camera['stride'] = stride
        return sample_points_img_feat(inputs['points'], reduced, camera,
                                      inputs.get('elastic_offset'))

    # ---------------------------------------------------------------- forward
    def forward(self, x: ME.SparseTensor, inputs: dict, injector=None) -> ME.SparseTensor:
        with torch.autocast(x.F.device.type, enabled=False):
            out3d, _ = self.backbone3d(x, injector=injector)
        feats, valids = self.point_features(inputs)
        m = out3d.F.shape[0]
        self.frames_without_projection += sum(int(not bool(ok.any())) for ok in valids)
        p2v = torch.cat(inputs['voxels']['point2voxel'])
        # per voxel: the mean 2D feature of its validly projected points, the mean position
        f2, count = pool_rows(torch.cat(feats).to(out3d.F.dtype), p2v, m, 'mean',
                              valid=torch.cat(valids), return_count=True)
        xyz = pool_rows(torch.cat([p[:, :3] for p in inputs['points']]).float(), p2v, m,
                        'mean')
        valid = count > 0
        f2 = self.proj2d(f2)
        fused, g = self.gate(self.proj3d(out3d.F), f2, valid)
        # per-voxel 2D features of this forward, for cross-view criteria (ClipConsCriterion)
        self.last_voxel_2d = (out3d.C, f2, valid)
        if self.geo_pe is not None:
            fused = fused + self.geo_pe(xyz)
        self.stats = dict(valid_ratio=valid.float().mean().detach(),
                          gate_2d=(g[valid].mean() if valid.any() else g.new_zeros(())).detach(),
                          frames_without_projection=torch.tensor(
                              float(self.frames_without_projection)),
                          online_maps=torch.tensor(float(self.online_maps)))
        return ME.SparseTensor(features=fused, coordinate_map_key=out3d.coordinate_map_key,
                               coordinate_manager=out3d.coordinate_manager)
