"""``ActionMetric``: next-keyframe action errors on held-out episodes (stage 2)."""
from typing import Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from oneformer3d.robot.models.policy.rotation import geodesic_angle, quaternion_to_matrix
from oneformer3d.registry import METRICS


@METRICS.register_module()
class ActionMetric(BaseMetric):
    """Errors of :class:`~oneformer3d.models.ActionPolicy` predictions, over all held-out steps
    and over keyframe steps only (``kf_*``):

    * ``trans_err_cm``: mean L2 distance of the predicted to the true next-keyframe gripper
      position, cm;
    * ``rot_err_deg``: mean geodesic angle between predicted and true rotation, degrees;
    * ``gripper_acc``: share of steps whose open state (probability > 0.5) is right;
    * ``const_trans_err_cm``: the same error of the constant baseline that predicts the mean
      training target (``dataset_meta['const_trans']``, from
      :class:`~oneformer3d.datasets.RLBenchActionDataset`) — the floor of every table row.
    """

    default_prefix = ''

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for s in data_samples:
            self.results.append({k: (v.numpy() if isinstance(v, torch.Tensor) else v)
                                 for k, v in s.items()})

    def compute_metrics(self, results: list) -> dict:
        pt = torch.from_numpy(np.stack([r['pred_trans'] for r in results])).double()
        tt = torch.from_numpy(np.stack([r['target_trans'] for r in results])).double()
        pq = torch.from_numpy(np.stack([r['pred_quat'] for r in results])).double()
        tq = torch.from_numpy(np.stack([r['target_quat'] for r in results])).double()
        po = np.array([float(r['pred_open']) for r in results])
        to = np.array([float(r['target_open']) for r in results])
        kf = np.array([r['is_keyframe'] for r in results], dtype=bool)
        trans = (pt - tt).norm(dim=-1).numpy() * 100
        rot = np.degrees(geodesic_angle(quaternion_to_matrix(pq),
                                        quaternion_to_matrix(tq)).numpy())
        acc = ((po > 0.5) == (to > 0.5)).astype(np.float64)
        const = torch.tensor(self.dataset_meta['const_trans'], dtype=torch.float64)
        const_err = (const - tt).norm(dim=-1).numpy() * 100
        metrics = dict(trans_err_cm=trans.mean(), rot_err_deg=rot.mean(),
                       gripper_acc=acc.mean(), const_trans_err_cm=const_err.mean())
        if kf.any():
            metrics.update(kf_trans_err_cm=trans[kf].mean(), kf_rot_err_deg=rot[kf].mean(),
                           kf_gripper_acc=acc[kf].mean(),
                           kf_const_trans_err_cm=const_err[kf].mean())
        metrics = {k: float(v) for k, v in metrics.items()}
        MMLogger.get_current_instance().info(
            'action: ' + ' '.join(f'{k}={v:.4f}' for k, v in metrics.items()) +
            f' (steps={len(results)}, keyframe steps={int(kf.sum())})')
        return metrics
