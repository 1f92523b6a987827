"""``InstanceSegMetric``: ScanNet instance AP (+ class-agnostic AP, coverage, mIoU) for the Runner.

``process`` reduces each scene to the compact record of
:func:`oneformer3d.evaluation.functional.match_scene` (no masks are kept), so evaluating
hundreds of scenes needs little memory. ``compute_metrics`` logs a table and appends one row
per evaluation to ``<work_dir>/metrics.csv`` (config, checkpoint, ``load`` = full / partial,
metrics).
"""
import csv
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from oneformer3d.evaluation.functional import (confusion_matrix, coverage_from_matches,
                                               evaluate_matches, format_instance_table,
                                               iou_from_confusion, match_scene, split_ap)
from oneformer3d.metainfo import get_class_table
from oneformer3d.registry import METRICS


def _numpy(x) -> np.ndarray:
    return x.cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def one_proposal_per_query(masks: np.ndarray, scores: np.ndarray,
                           query_index: Optional[np.ndarray]):
    """Class-agnostic view of class-aware predictions: ``(masks, scores)`` with one row per query.

    A class-aware model keeps the top-k (query, class) pairs (OneFormer3D), so one query's mask
    can appear under several labels. Scored without labels these rows are duplicates of one
    proposal, and every copy after the first is a false positive. Each query's mask is kept
    once, with its best class hypothesis's score (the first row of that query in descending
    score order). ``query_index`` None (e.g. online merged instances) returns the input.

    Args:
        masks: (M, N) bool point masks; scores: (M,) float; query_index: (M,) int or None.
    """
    if query_index is None or len(query_index) == 0:
        return masks, scores
    order = np.argsort(-scores, kind='stable')
    _, first = np.unique(query_index[order], return_index=True)
    keep = np.sort(order[first])
    return masks[keep], scores[keep]


@METRICS.register_module()
class InstanceSegMetric(BaseMetric):
    """ScanNet metrics of ``pred_instances_3d`` / ``pred_pts_seg`` against ``gt_pts_seg``.

    Args:
        class_agnostic: the model predicts one class (ESAM CA); only class-agnostic AP is
            reported as AP (class-aware AP would be meaningless). For a class-aware model the
            class-agnostic AP (``ca_*``, coverage) counts each query's mask once, scored by its
            best class (:func:`one_proposal_per_query`); class-aware AP uses every pair.
        min_region_size: the protocol's 100-point minimum.
        csv_file: where to append the metrics row; default ``<work_dir>/metrics.csv`` when the
            runner sets ``work_dir`` through :meth:`set_run_info`, else nothing is written.

    GT comes from ``gt_pts_seg`` on the evaluated points: ``pts_semantic_mask`` (train ids) and
    ``pts_instance_mask`` (0 = none). The class table is read from ``dataset_meta['dataset']``.
    """
    default_prefix = ''

    def __init__(self, class_agnostic: bool = False, min_region_size: int = 100,
                 csv_file: Optional[str] = None, collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.class_agnostic = class_agnostic
        self.min_region_size = min_region_size
        self.csv_file = csv_file
        self.run_info = {}

    def set_run_info(self, **info) -> None:
        """Context written into the CSV row (config, checkpoint, work_dir)."""
        self.run_info.update(info)

    @property
    def table(self):
        return get_class_table(self.dataset_meta['dataset'])

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        table = self.table
        for ds in data_samples:
            # online MV results are scored on the reconstructed scan (eval_ann_info)
            gt = ds.get('eval_ann_info') or {}
            if 'pts_instance_mask' not in gt:
                gt = ds['gt_pts_seg']
            sem = _numpy(gt['pts_semantic_mask'])
            ins = _numpy(gt['pts_instance_mask'])
            pred = ds['pred_instances_3d']
            masks = pred['pts_instance_mask'].cpu().numpy()
            labels = pred['instance_labels'].cpu().numpy()
            scores = pred['instance_scores'].float().cpu().numpy()
            inst_sem = table.seg_to_inst[sem]
            agn_sem = np.where(inst_sem >= 0, 0, -1)
            q = pred.get('query_index') if not self.class_agnostic else None
            agn_masks, agn_scores = one_proposal_per_query(
                masks, scores, None if q is None else _numpy(q))
            rec = dict(agnostic=match_scene(agn_sem, ins, agn_masks,
                                            np.zeros(len(agn_scores), np.int64), agn_scores, 1,
                                            self.min_region_size))
            if not self.class_agnostic:
                rec['aware'] = match_scene(inst_sem, ins, masks, labels, scores,
                                           table.num_inst_classes, self.min_region_size)
            if 'pred_pts_seg' in ds:
                rec['confusion'] = confusion_matrix(
                    sem, ds['pred_pts_seg']['pts_semantic_mask'].cpu().numpy(),
                    table.num_seg_classes, table.ignore_index)
            self.results.append(rec)

    def compute_metrics(self, results: list) -> dict:
        logger = MMLogger.get_current_instance()
        table = self.table
        agn = evaluate_matches([r['agnostic'] for r in results], ('object',),
                               self.min_region_size)
        metrics = {'ca_ap': agn['all_ap'], 'ca_ap50': agn['all_ap_50%'],
                   'ca_ap25': agn['all_ap_25%']}
        metrics.update(coverage_from_matches([r['agnostic'] for r in results],
                                             self.min_region_size))
        text = format_instance_table(agn)
        if not self.class_agnostic:
            aware = evaluate_matches([r['aware'] for r in results], table.inst_class_names,
                                     self.min_region_size)
            metrics.update(ap=aware['all_ap'], ap50=aware['all_ap_50%'],
                           ap25=aware['all_ap_25%'])
            if table.splits:
                metrics.update(split_ap(aware, table.splits))
            text = format_instance_table(aware)
        if all('confusion' in r for r in results):
            iou = iou_from_confusion(sum(r['confusion'] for r in results))
            metrics['miou'] = float(np.nanmean(iou)) if np.isfinite(iou).any() else float('nan')
        logger.info('\n' + text)
        logger.info('class-agnostic AP / AP50 / AP25: '
                    f'{metrics["ca_ap"]:.4f} / {metrics["ca_ap50"]:.4f} / {metrics["ca_ap25"]:.4f}')
        self._write_csv(metrics)
        return metrics

    def _write_csv(self, metrics: dict) -> None:
        path = self.csv_file or (osp.join(self.run_info['work_dir'], 'metrics.csv')
                                 if self.run_info.get('work_dir') else None)
        if path is None:
            return
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        row = dict(config=self.run_info.get('config', ''),
                   checkpoint=self.run_info.get('checkpoint', ''),
                   load=self.run_info.get('load', ''),
                   **{k: f'{v:.6f}' for k, v in metrics.items()})
        rows = []
        if osp.isfile(path):
            with open(path, newline='') as fh:
                rows = list(csv.DictReader(fh))
        fields = list(dict.fromkeys([k for r in rows for k in r] + list(row)))
        # rewritten whole through a temp file: a new column widens the header, and a kill
        # mid-write never leaves a truncated file
        tmp = f'{path}.tmp'
        with open(tmp, 'w', newline='') as fh:
            writer = csv.DictWriter(fh, fieldnames=fields, restval='')
            writer.writeheader()
            writer.writerows(rows + [row])
        os.replace(tmp, path)
