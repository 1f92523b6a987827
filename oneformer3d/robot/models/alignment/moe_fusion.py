"""``MoEFusion``: input-dependent gates over encoders with a load-balancing term."""
import torch
import torch.nn as nn

from oneformer3d.registry import MODELS


@MODELS.register_module()
class MoEFusion(nn.Module):
    """Mixture of experts over encoders (the "experts" are the adapted encoder features).

    Gate logits come from a linear layer on the concatenated encoder features of each token
    (``gate='token'``) or of the sample's mean over tokens (``gate='sample'``); the fused
    feature is ``Σ_e g_e · x_e``. Load balancing (Switch Transformer, Fedus et al. 2022,
    eq. 4): ``aux = E · Σ_e f_e · P_e`` with ``f_e`` the share of tokens whose top gate is e
    and ``P_e`` the mean gate probability of e; 1.0 when balanced.

    Args:
        num_encoders: E; dim: D; gate: ``'token'`` | ``'sample'``;
        balance_weight: multiplier of ``aux`` (returned as ``loss_balance``).

    ``forward(x (E, B, K, D) or (E, B, D)) -> (fused (B, [K,] D), {'loss_balance'})``;
    ``weights()`` -> (E,) mean gate of the last batch (for logging).
    """

    def __init__(self, num_encoders: int, dim: int = 256, gate: str = 'token',
                 balance_weight: float = 0.01):
        super().__init__()
        if gate not in ('token', 'sample'):
            raise ValueError(f"MoEFusion gate must be 'token' or 'sample', got {gate!r}")
        self.gate_type, self.balance_weight = gate, balance_weight
        self.gate = nn.Linear(num_encoders * dim, num_encoders)
        nn.init.zeros_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)
        self.register_buffer('last_weights', torch.full((num_encoders,), 1 / num_encoders),
                             persistent=False)

    def weights(self) -> torch.Tensor:
        return self.last_weights

    def forward(self, x: torch.Tensor):
        e = x.shape[0]
        tokens = x.movedim(0, -2)                              # (B, [K,] E, D)
        src = tokens if self.gate_type == 'token' or tokens.dim() == 3 else \
            tokens.mean(1, keepdim=True)
        logits = self.gate(src.flatten(-2))                    # (B, [K|1,] E)
        probs = logits.softmax(-1)
        fused = (probs.unsqueeze(-1) * tokens).sum(-2)
        flat = probs.reshape(-1, e)
        share = torch.bincount(flat.argmax(-1), minlength=e).float() / len(flat)
        aux = e * (share.detach() * flat.mean(0)).sum()
        self.last_weights = flat.mean(0).detach()
        return fused, dict(loss_balance=self.balance_weight * aux)
