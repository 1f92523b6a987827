"""GT boxes of a multi-view sample's instances from the reconstructed scan (ESAM's
``BboxCalculation``)."""
import numpy as np
from mmcv.transforms import BaseTransform

from oneformer3d.datasets.preprocessing.scannet_io import read_bin
from oneformer3d.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ScanInstanceBoxes(BaseTransform):
    """Axis-aligned box of every GT instance of the sample, over the whole instance in the
    reconstructed scan, in the sample's augmented frame.

    ESAM (``xuxw98/ESAM`` ``oneformer3d/transforms_3d.py`` ``BboxCalculation``, the online
    CA config's ``with_rec=True``) boxes each instance of the clip over its points in the
    reconstructed scan after the clip's augmentation: a frame that sees part of a table is
    supervised with the whole table's box, which is what lets the online merger match the
    parts of one object by box IoU. Here the scan (``scan_path``, ``scan_instance_mask_path``,
    ``scan_semantic_mask_path`` of the info) is read, moved by the sample's rigid
    augmentation (``aug_matrix``: rotation, scale, translation, flips), and each instance
    ``g`` of ``pts_instance_mask`` (numbered ``1..G`` by :class:`PointInstClassMapping`,
    which records its raw id in ``gt_instance_ids``) is boxed over the scan points with the
    same raw instance id and instance class. Deliberate difference: ESAM also moves the scan
    by the elastic distortion; ours does not (the elastic displacement is stored for the
    frame points only; it moves points by a few centimetres).

    Place after the rigid augmentations and :class:`PointInstClassMapping`. Adds
    ``gt_bboxes_3d`` (G, 6) float32 ``(centre xyz, size xyz)``, metres, which
    :class:`Pack3DDetInputs` puts in ``gt_instances_3d.bboxes_3d``.

    Raises:
        KeyError: the info names no scan (``create_data.py scannet_mv`` writes the paths).
        ValueError: a GT instance of the sample has no point in the scan (the scan and the
            frames disagree), naming the scan and the instance.
    """

    def transform(self, results: dict) -> dict:
        for key in ('scan_path', 'scan_instance_mask_path', 'scan_semantic_mask_path'):
            if not results.get(key):
                raise KeyError(f'sample {results.get("sample_idx")}: no {key} in the info '
                               f'(ScanInstanceBoxes boxes the instances in the scan)')
        scan = read_bin(results['scan_path'], np.float32, 6)[:, :3].astype(np.float64)
        ins = read_bin(results['scan_instance_mask_path'], np.int64)
        sem = read_bin(results['scan_semantic_mask_path'], np.int64)
        if not len(ins) == len(sem) == len(scan):
            raise ValueError(f'{results["scan_path"]}: {len(scan)} points but '
                             f'{len(ins)} instance / {len(sem)} semantic labels')
        m = np.asarray(results.get('aug_matrix', np.eye(4)), dtype=np.float64)
        scan = scan @ m[:3, :3].T + m[:3, 3]
        cls = results['inst_label_mapping'][results['seg_label_mapping'][sem]]
        ids, labels = results['gt_instance_ids'], results['gt_labels_3d']
        boxes = np.zeros((len(ids), 6), dtype=np.float32)
        for g, (raw, label) in enumerate(zip(ids, labels)):
            pts = scan[(ins == raw) & (cls == label)]
            if not len(pts):
                raise ValueError(f'{results["scan_path"]}: GT instance {raw} (class {label}) '
                                 f'of sample {results.get("sample_idx")} has no scan point')
            lo, hi = pts.min(0), pts.max(0)
            boxes[g] = np.concatenate([(lo + hi) / 2, hi - lo])
        results['gt_bboxes_3d'] = boxes
        return results
