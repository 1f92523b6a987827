"""``RGBTeacher``: stage 3's teacher — the frozen ``rgb_aligned`` path on raw frames."""
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from oneformer3d.registry import MODELS


def pooled_tokens(pix: torch.Tensor, grid: int) -> torch.Tensor:
    """(B, C, H_f, W_f) map -> (B, grid², C) average-pooled tokens, row-major (as
    :class:`~oneformer3d.datasets.RLBenchActionDataset` pools a pack's frame)."""
    return F.adaptive_avg_pool2d(pix.float(), grid).flatten(2).transpose(1, 2)


@MODELS.register_module()
class RGBTeacher(nn.Module):
    """Every pack encoder on the raw anchor frame -> pooled tokens -> the stage-2
    ``rgb_aligned`` policy's token encoder (stage-1 adapters + projection) -> tokens
    (B, E·G², D); the policy's ``ActionHead`` kept beside it (both frozen, loaded from the
    stage-2 checkpoint, keys ``token_encoder.*`` / ``head.*``).

    The encoders must be the ones that wrote the packs the policy trained on: the same
    configs (``short_side`` included) and weights; random-init encoders are rebuilt as
    ``tools/robot/prepare_rlbench.py --seed S`` builds them (``torch.manual_seed(S)`` before each),
    which reproduces its packs (fp16 storage aside).

    Args:
        encoders: ``{pack name: encoder config}`` in the policy's encoder order.
        token_encoder / head: the stage-2 policy's ``PackTokenEncoder`` / ``ActionHead``
            configs (``checkpoint`` of the token encoder ignored: the policy checkpoint
            holds the adapters).
        policy_checkpoint: stage-2 ``rgb_aligned`` checkpoint; None keeps the random init
            (tests only).
        token_grid: G (the dataset's ``token_grid``). seed: see above.

    Raises:
        ValueError: the checkpoint lacks ``token_encoder.*`` or ``head.*`` tensors.
    """

    def __init__(self, encoders: Dict[str, dict], token_encoder: dict, head: dict,
                 policy_checkpoint: Optional[str] = None, token_grid: int = 4, seed: int = 0):
        super().__init__()
        self.encoders = nn.ModuleDict()
        for name, cfg in encoders.items():
            torch.manual_seed(seed)
            self.encoders[name] = MODELS.build(cfg)
        self.token_encoder = MODELS.build(dict(token_encoder, checkpoint=None))
        self.head = MODELS.build(head)
        self.grid = token_grid
        if policy_checkpoint is not None:
            self.load_policy(policy_checkpoint)
        self.requires_grad_(False)
        self.eval()

    def load_policy(self, checkpoint: str) -> None:
        from oneformer3d.utils import load_local_checkpoint
        from oneformer3d.utils.load_report import checkpoint_state_dict
        state = checkpoint_state_dict(load_local_checkpoint(checkpoint, map_location='cpu'),
                                      checkpoint)
        for prefix, module in (('token_encoder.', self.token_encoder), ('head.', self.head)):
            part = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            if not part:
                raise ValueError(f'{checkpoint}: no {prefix}* tensors (a stage-2 '
                                 f'ActionPolicy checkpoint with a PackTokenEncoder is needed)')
            module.load_state_dict(part)

    def train(self, mode: bool = True):
        return super().train(False)          # frozen: always eval

    @torch.no_grad()
    def pack_tokens(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        """uint8 (B, 3, H, W) -> {encoder: (B, G², C_e)} (what the packs give the policy)."""
        return {n: pooled_tokens(enc(images)['pix'], self.grid)
                for n, enc in self.encoders.items()}

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, H, W) -> tokens (B, E·G², D)."""
        return self.token_encoder(dict(tokens=self.pack_tokens(images)))
