"""Training-time transforms of the action samples (``RLBenchActionDataset(pipeline=...)``)."""
import torch

from oneformer3d.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ProprioNoise:
    """Gaussian noise on the proprioceptive hand position the policy is given (training only).

    ``inputs['proprio'][:3]`` (m, world) += N(0, std²) per axis; the targets stay the true
    (absolute) positions. A behaviour-cloning head can otherwise fit its training demos from
    the hand position alone — each demo's hand path identifies its layout — and ignore the
    scene (the "copycat" shortcut of Wen et al. 2020, Fighting Copycat Agents in Behavioral
    Cloning from Observation Histories, NeurIPS; measured here: swapping a step's whole scene
    for another layout's moved the trained heads' output by 0.05–1.4 mm against 12 mm steps,
    docs/robot_sim.md).
    With the noise, where the hand is relative to the target must also be read from the scene
    (the gripper is in the point cloud and in the frames). Since the head adds its output to
    the given position, the noise is part of what it must predict.

    Args:
        std: standard deviation (m). seed: optional generator seed for a reproducible single
            process (tests); None (configs): torch's global RNG, which mmengine seeds per
            dataloader worker — a seeded generator is copied into every worker, which would then
            draw the same noise.
    """

    def __init__(self, std: float = 0.01, seed=None):
        if std < 0:
            raise ValueError(f'ProprioNoise: std must be >= 0 m, got {std}')
        self.std = float(std)
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)

    def __call__(self, results: dict) -> dict:
        proprio = results['inputs']['proprio'].clone()
        noise = torch.randn(3, generator=self.generator, dtype=torch.float64) * self.std
        proprio[:3] += noise.to(proprio.dtype)
        results['inputs']['proprio'] = proprio
        return results

    def __repr__(self):
        return f'{type(self).__name__}(std={self.std})'
