"""``RetrievalMetric``: RGB <-> point-cloud retrieval on held-out steps."""
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from oneformer3d.registry import METRICS


def retrieval_recalls(query: torch.Tensor, gallery: torch.Tensor, ks=(1, 5)) -> dict:
    """Recall@k of row i of ``query`` retrieving row i of ``gallery`` (cosine similarity)."""
    sim = F.normalize(query.float(), dim=-1) @ F.normalize(gallery.float(), dim=-1).T
    rank = (sim > sim.diagonal()[:, None]).sum(1)          # 0 = the positive is first
    return {k: float((rank < k).float().mean()) for k in ks}


@METRICS.register_module()
class RetrievalMetric(BaseMetric):
    """Top-1 / top-5 retrieval RGB->PC and PC->RGB among the evaluated samples (each sample's
    own point cloud is the positive), with the chance levels ``k / N``; writes a PNG histogram
    of positive vs negative cosine similarities to ``<work_dir>/retrieval_similarity.png``
    (``MetricRunInfoHook`` supplies the work dir; ``out_dir`` overrides).

    When samples carry per-point embeddings (stage 1), also point-level retrieval inside each
    sample — a point's RGB feature retrieving its own point among the sample's M visible
    points and back — averaged over samples (``point_*``, chance ``k / M``).
    """

    default_prefix = 'retrieval'

    def __init__(self, out_dir: Optional[str] = None, collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.out_dir = out_dir

    def set_run_info(self, **info):
        self.out_dir = self.out_dir or info.get('work_dir')

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            point = None
            if 'rgb_point_emb' in ds and len(ds['rgb_point_emb']) >= 5:
                a, b = ds['rgb_point_emb'], ds['pc_point_emb']
                r, p = retrieval_recalls(a, b), retrieval_recalls(b, a)
                point = (r[1], r[5], p[1], p[5], 1 / len(a), 5 / len(a))
            self.results.append((ds['rgb_emb'], ds['pc_emb'], point))

    def compute_metrics(self, results: list) -> dict:
        rgb = torch.stack([r[0] for r in results])
        pc = torch.stack([r[1] for r in results])
        n = len(rgb)
        r2p, p2r = retrieval_recalls(rgb, pc), retrieval_recalls(pc, rgb)
        sim = F.normalize(rgb, dim=-1) @ F.normalize(pc, dim=-1).T
        pos = sim.diagonal().numpy()
        neg = sim[~torch.eye(n, dtype=torch.bool)].numpy()
        metrics = {'rgb2pc_R@1': r2p[1], 'rgb2pc_R@5': r2p[5], 'pc2rgb_R@1': p2r[1],
                   'pc2rgb_R@5': p2r[5], 'chance_R@1': 1 / n, 'chance_R@5': min(1.0, 5 / n),
                   'pos_sim_mean': float(pos.mean()), 'neg_sim_mean': float(neg.mean())}
        points = [r[2] for r in results if r[2] is not None]
        if points:
            mean = np.mean(np.asarray(points), axis=0)
            metrics.update({'point_rgb2pc_R@1': mean[0], 'point_rgb2pc_R@5': mean[1],
                            'point_pc2rgb_R@1': mean[2], 'point_pc2rgb_R@5': mean[3],
                            'point_chance_R@1': mean[4], 'point_chance_R@5': mean[5]})
        if self.out_dir:
            path = self._histogram(pos, neg, n)
            MMLogger.get_current_instance().info(f'similarity histogram: {path}')
        return metrics

    def _histogram(self, pos: np.ndarray, neg: np.ndarray, n: int) -> str:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4))
        bins = np.linspace(min(pos.min(), neg.min()), max(pos.max(), neg.max()), 40)
        ax.hist(neg, bins=bins, alpha=0.6, density=True, label=f'negatives ({len(neg)})')
        ax.hist(pos, bins=bins, alpha=0.6, density=True, label=f'positives ({len(pos)})')
        ax.set_xlabel('cosine similarity RGB vs PC embedding')
        ax.set_title(f'{n} held-out samples')
        ax.legend()
        fig.tight_layout()
        os.makedirs(self.out_dir, exist_ok=True)
        path = osp.join(self.out_dir, 'retrieval_similarity.png')
        fig.savefig(path, dpi=80)
        plt.close(fig)
        return path
