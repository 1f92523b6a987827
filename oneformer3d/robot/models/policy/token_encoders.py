"""Token encoders of the action policy: one input route each, same output (B, K, D)."""
from typing import Dict, Optional

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer

from oneformer3d.registry import MODELS
from .spatial_softmax import grid_positions


@MODELS.register_module()
class PointTokenEncoder(nn.Module):
    """``pc`` route: each point's ``[xyz, pc_feat]`` (B, K, 3 + D_pc) -> [input norm] ->
    per-point MLP (Linear, GELU, Linear, LayerNorm) -> tokens (B, K, D). The point-cloud
    features as the teacher sees them (the point files of ``tools/robot/prepare_rlbench.py``).

    ``norm_cfg`` (optional, default none = the identity): a norm layer on the input channels
    of every point, built by ``mmcv.cnn.build_norm_layer`` — ``dict(type='BN1d')`` standardises
    each channel with the training set's statistics (running mean / variance at test), as
    PointNet's shared MLPs do (Qi et al., CVPR 2017). Needed when the teacher's channels vary
    little between points: the random-init ``PointMLPEncoder``'s ``pc_feat`` varies by ~0.005
    between the points of a cloud around a ~0.05 level set by its global max-pool
    (docs/robot_sim.md), so without it the route sees little more than xyz.

    Raises (forward):
        ValueError: no ``points`` (another route's input), or points whose last dimension is
            not ``in_channels`` — naming both shapes.
    """

    def __init__(self, in_channels: int, dim: int = 128, norm_cfg: Optional[dict] = None):
        super().__init__()
        self.in_channels = in_channels
        self.norm = (build_norm_layer(norm_cfg, in_channels)[1] if norm_cfg is not None
                     else nn.Identity())
        self.net = nn.Sequential(nn.Linear(in_channels, dim), nn.GELU(), nn.Linear(dim, dim),
                                 nn.LayerNorm(dim))

    def forward(self, inputs: dict) -> torch.Tensor:
        points = inputs.get('points')
        if points is None or points.dim() != 3 or points.shape[-1] != self.in_channels:
            got = (f'inputs {sorted(inputs)}' if points is None
                   else f'points of shape {tuple(points.shape)}')
            raise ValueError(f'PointTokenEncoder: trained on points (B, K, {self.in_channels}) '
                             f'(xyz + {self.in_channels - 3} teacher channels), got {got}')
        x = points.float()
        return self.net(self.norm(x.flatten(0, 1)).view_as(x))

    @staticmethod
    def positions(inputs: dict, tokens: torch.Tensor) -> torch.Tensor:
        """The tokens' positions for the head's ``keypoints`` slot: the points' xyz
        (B, K, 3), m, world frame."""
        return inputs['points'][..., :3].float()


@MODELS.register_module()
class PackTokenEncoder(nn.Module):
    """``rgb_raw`` / ``rgb_aligned`` routes: each encoder's pooled pack tokens (B, G², C_e)
    -> that encoder's ``Adapter`` (C_e -> D_a) -> ``Linear(D_a, D)`` + a learned per-encoder
    embedding; the encoders' tokens concatenated (B, E·G², D).

    ``checkpoint`` (``rgb_aligned``): the adapters are loaded from a stage-1 / route-2
    ``RGBPointAligner`` checkpoint (keys ``adapters.<encoder>.*``) and frozen, so the head
    sees the RGB features in the space aligned with the point features; without it
    (``rgb_raw``, the control) the same adapters start fresh and train with the head.

    Args:
        encoders: ``{pack name: channels}`` (order kept).
        adapter_dim: the aligner's width D_a (``RGBPointAligner.dim``, 256).
        dim: token width D of the head.

    Raises:
        ValueError: the checkpoint lacks an encoder's adapter (naming the file and key);
            (forward) no ``tokens``, an encoder's tokens missing or with another channel count
            than trained on — naming the encoders and shapes.
    """

    def __init__(self, encoders: Dict[str, int], adapter_dim: int = 256, dim: int = 128,
                 checkpoint: Optional[str] = None):
        super().__init__()
        self.names = list(encoders)
        self.channels = dict(encoders)
        self.adapters = nn.ModuleDict({
            n: MODELS.build(dict(type='Adapter', in_channels=c, out_channels=adapter_dim))
            for n, c in encoders.items()})
        self.proj = nn.Linear(adapter_dim, dim)
        self.encoder_embed = nn.Parameter(torch.zeros(len(self.names), dim))
        self.frozen = checkpoint is not None
        if checkpoint is not None:
            self.load_aligner(checkpoint)

    def load_aligner(self, checkpoint: str) -> None:
        from oneformer3d.utils import load_local_checkpoint
        from oneformer3d.utils.load_report import checkpoint_state_dict
        state = checkpoint_state_dict(load_local_checkpoint(checkpoint, map_location='cpu'),
                                      checkpoint)
        for name, adapter in self.adapters.items():
            prefix = f'adapters.{name}.'
            part = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            if not part:
                raise ValueError(f'{checkpoint}: no {prefix}* tensors (an RGBPointAligner '
                                 f'checkpoint with encoder {name!r} is needed)')
            adapter.load_state_dict(part)
            adapter.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.adapters.eval()
        return self

    def check(self, inputs: dict) -> None:
        tokens = inputs.get('tokens')
        got = ({n: tuple(t.shape) for n, t in tokens.items()} if isinstance(tokens, dict)
               else f'inputs {sorted(inputs)}')
        if (not isinstance(tokens, dict) or any(
                n not in tokens or tokens[n].shape[-1] != c for n, c in self.channels.items())):
            raise ValueError(f'PackTokenEncoder: trained on tokens (B, G², C) of the encoders '
                             f'{self.channels} (name: C), got {got}')

    def positions(self, inputs: dict, tokens: torch.Tensor) -> torch.Tensor:
        """The positions of tokens (B, E·G², D) in this encoder's order for the head's
        ``keypoints`` slot: the grid cells' ``(u, v, 0)`` (:func:`grid_positions`), (B, E·G², 3).
        Also the student's (its tokens follow the teacher's order)."""
        per_encoder = tokens.shape[1] // len(self.names)
        grid = int(round(per_encoder ** 0.5))
        if grid * grid * len(self.names) != tokens.shape[1]:
            raise ValueError(f'PackTokenEncoder: {tokens.shape[1]} tokens are not '
                             f'{len(self.names)} square grids')
        pos = grid_positions(len(self.names), grid, device=tokens.device)
        return pos.expand(tokens.shape[0], -1, -1)

    def forward(self, inputs: dict) -> torch.Tensor:
        self.check(inputs)
        out = []
        for i, name in enumerate(self.names):
            x = self.adapters[name](inputs['tokens'][name].float())
            out.append(self.proj(x) + self.encoder_embed[i])
        return torch.cat(out, dim=1)
