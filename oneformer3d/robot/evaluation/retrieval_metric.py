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
    points and back — averaged over samples (``point_*``, chance ``k / M``) — and a second
    histogram panel of point-level positive vs negative similarities (per sample its M
    positives and up to ``point_negatives`` × M negatives drawn with a fixed seed).
    """

    default_prefix = 'retrieval'

    def __init__(self, out_dir: Optional[str] = None, point_negatives: int = 10,
                 collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.out_dir = out_dir
        self.point_negatives = point_negatives

    def set_run_info(self, **info):
        self.out_dir = self.out_dir or info.get('work_dir')

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            point = sims = None
            if 'rgb_point_emb' in ds and len(ds['rgb_point_emb']) >= 5:
                a, b = ds['rgb_point_emb'], ds['pc_point_emb']
                r, p = retrieval_recalls(a, b), retrieval_recalls(b, a)
                point = (r[1], r[5], p[1], p[5], 1 / len(a), 5 / len(a))
                sims = self._point_sims(a, b)
            self.results.append((ds['rgb_emb'], ds['pc_emb'], point, sims))

    def _point_sims(self, a: torch.Tensor, b: torch.Tensor):
        """Positive (M,) and sampled negative cosine similarities of one sample's points."""
        sim = F.normalize(a.float(), dim=-1) @ F.normalize(b.float(), dim=-1).T
        m = len(sim)
        gen = torch.Generator().manual_seed(0)
        rows = torch.randint(0, m, (self.point_negatives * m,), generator=gen)
        cols = (rows + torch.randint(1, m, rows.shape, generator=gen)) % m   # never the diagonal
        return sim.diagonal().numpy(), sim[rows, cols].numpy()

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
            point_sims = [r[3] for r in results if r[3] is not None]
            point_pos_neg = (np.concatenate([p for p, _ in point_sims]),
                             np.concatenate([q for _, q in point_sims])) if point_sims else None
            path = self._histogram(pos, neg, n, point_pos_neg)
            MMLogger.get_current_instance().info(f'similarity histogram: {path}')
        return metrics

    def _histogram(self, pos: np.ndarray, neg: np.ndarray, n: int, point_pos_neg=None) -> str:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        panels = [(pos, neg, f'{n} held-out samples', 'RGB vs PC embedding')]
        if point_pos_neg is not None:
            panels.append((*point_pos_neg, 'points of the held-out samples',
                           'RGB patch vs point embedding'))
        fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
        for ax, (p, q, title, what) in zip(axes[0], panels):
            bins = np.linspace(min(p.min(), q.min()), max(p.max(), q.max()), 40)
            ax.hist(q, bins=bins, alpha=0.6, density=True, label=f'negatives ({len(q)})')
            ax.hist(p, bins=bins, alpha=0.6, density=True, label=f'positives ({len(p)})')
            ax.set_xlabel(f'cosine similarity {what}')
            ax.set_title(title)
            ax.legend()
        fig.tight_layout()
        os.makedirs(self.out_dir, exist_ok=True)
        path = osp.join(self.out_dir, 'retrieval_similarity.png')
        fig.savefig(path, dpi=80)
        plt.close(fig)
        return path
