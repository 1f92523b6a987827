"""``OneFormer3D``: the one detector class; its parts are chosen by config.

Data flow (``../shared/DESIGN.md``): voxels -> ``backbone`` (sparse U-Net) -> per-point
features -> superpoint pooling -> ``decoder`` (queries over superpoints) -> ``criterion``
(training) or top-k instance masks + semantic labels (inference). Later parts (2D encoders,
memory, merge head) plug in as further optional config entries; an absent part costs nothing.
Multi-view samples (inputs with ``frame_idx``) run frame by frame through :mod:`.online`.
"""
from typing import List, Optional

import MinkowskiEngine as ME
import torch
from mmengine.model import BaseModel
from mmengine.structures import InstanceData

from oneformer3d.registry import MODELS
from oneformer3d.structures import PointData
from ..layers import matrix_nms, pool_rows
from ..online.sequence import loss_sequence, predict_sequence


@MODELS.register_module()
class OneFormer3D(BaseModel):
    """Superpoint-query 3D instance segmentation (OneFormer3D / ESAM single-view).

    Args:
        backbone: sparse 3D backbone config (e.g. ``Res16UNet34C``); exactly one of
            ``backbone`` and ``bi_encoder``.
        decoder: ``QueryDecoder`` config; its ``in_channels`` is set from the ``out_channels``
            of the part that feeds it (neck, else bi_encoder, else backbone; an explicit,
            different value raises ``ValueError``).
        criterion: ``InstanceCriterion`` config.
        sem_criterion: optional ``SemanticCriterion`` config (needs the decoder's semantic head).
        num_instance_classes: K; 1 = class-agnostic (every GT instance is class 0). Passed on
            to the decoder's class head and the criterion.
        data_preprocessor: ``Det3DDataPreprocessor`` config.
        test_cfg: ``topk_insts`` (kept queries), ``score_thr``, ``npoint_thr`` (minimum points
            of a kept mask), ``sp_score_thr`` (mask probability threshold),
            ``obj_normalization`` (multiply by the mean mask probability inside the mask),
            ``nms`` (matrix NMS over superpoint masks, OneFormer3D) with ``matrix_nms_kernel``.
        memory: optional ``MultilevelMemory`` config (online MV; ``in_channels`` defaults to
            the backbone's channels at the memory's hook point).
        merge_head: optional ``MergeHead`` config (cross-frame association embeddings).
        merge_criterion: optional ``MergeCriterion`` config (needs ``merge_head``).
        merger: ``OnlineInstanceMerger`` config for online inference (default one when None).
        bi_encoder: optional 2D-3D encoder taking the backbone's place (``BiFusionEncoder``:
            ``backbone3d`` + a 2D branch on ``inputs['clip_pix']``); its statistics are logged
            with the losses (``fusion_*``).
        neck: optional module on the stride-1 voxel features before superpoint pooling
            (``TinySAModule``); ``in_channels`` filled in from the part before it.
        pool: point -> superpoint pooling (``SuperpointMeanPool``, OneFormer3D's mean, when
            None; ``GeoAwarePooling``, ESAM's); the points' xyz are the geometry it sees;
            ``in_channels`` is filled in from the part that feeds it.
        clip_cons: optional ``ClipConsCriterion`` config (multi-view training with a
            ``bi_encoder``; evaluated only when its ``loss_weight`` is not 0).
        injector: optional backbone injector with a ``prepare(x, inputs)`` step
            (``DINOFPNInjector``, ``DINOEarlyInjector``); unless the config gives them,
            ``out_channels`` are filled in from the U-Net's ``decoder_channels()``
            (``inject_at='upsampled'``) or ``skip_channels()``; it acts after the online
            memory in the backbone's injector chain.

    Absent ``bi_encoder`` / ``neck`` build nothing and change nothing (the model and its
    random initialisation equal those of a config without the keys).
    """

    def __init__(self, backbone: Optional[dict] = None, decoder: dict = None,
                 criterion: dict = None,
                 sem_criterion: Optional[dict] = None, num_instance_classes: int = 1,
                 data_preprocessor: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 train_cfg: Optional[dict] = None, init_cfg: Optional[dict] = None,
                 memory: Optional[dict] = None, merge_head: Optional[dict] = None,
                 merge_criterion: Optional[dict] = None, merger: Optional[dict] = None,
                 bi_encoder: Optional[dict] = None, neck: Optional[dict] = None,
                 clip_cons: Optional[dict] = None, injector: Optional[dict] = None,
                 pool: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if (backbone is None) == (bi_encoder is None):
            raise ValueError('OneFormer3D needs exactly one of backbone and bi_encoder (a '
                             'config replacing the backbone by a bi_encoder sets backbone=None)')
        if backbone is not None:
            self.backbone = MODELS.build(backbone)
            feeder, self.bi_encoder = self.backbone, None
        else:
            self.bi_encoder = MODELS.build(bi_encoder)
            feeder = self.bi_encoder
        self.neck = None
        if neck is not None:
            self.neck = MODELS.build(dict(neck, in_channels=feeder.out_channels))
            feeder = self.neck
        self.pool = MODELS.build(dict(pool or dict(type='SuperpointMeanPool'),
                                      in_channels=feeder.out_channels))
        # one source of truth for K: the decoder's class head and the criterion follow it
        # ... and for the decoder's input width: whatever feeds it
        width = feeder.out_channels
        if decoder.get('in_channels', width) != width:
            raise ValueError(f'decoder in_channels={decoder["in_channels"]} but '
                             f'{type(feeder).__name__} outputs {width} channels; leave '
                             f'in_channels out of the config')
        self.decoder = MODELS.build(dict(decoder, num_instance_classes=num_instance_classes,
                                         in_channels=width))
        self.criterion = MODELS.build(dict(criterion, num_classes=num_instance_classes))
        self.sem_criterion = MODELS.build(sem_criterion) if sem_criterion else None
        self.num_instance_classes = num_instance_classes
        # OneFormer3D's ScanNet test_cfg (configs/oneformer3d_1xb4_scannet*.py)
        self.test_cfg = dict(dict(topk_insts=600, score_thr=0.0, npoint_thr=100,
                                  sp_score_thr=0.4, obj_normalization=True, nms=True,
                                  matrix_nms_kernel='linear'), **(test_cfg or {}))
        if memory is not None and 'in_channels' not in memory:
            unet = self.backbone3d
            memory = dict(memory, in_channels=(
                unet.decoder_channels() if memory.get('point') == 'upsampled'
                else unet.encoder_channels()))
        self.memory = MODELS.build(memory) if memory else None
        self.merge_head = MODELS.build(merge_head) if merge_head else None
        if merge_criterion and merge_head is None:
            raise ValueError('merge_criterion needs a merge_head')
        self.merge_criterion = MODELS.build(merge_criterion) if merge_criterion else None
        self.merger_cfg = merger or dict(type='OnlineInstanceMerger')
        if clip_cons and self.bi_encoder is None:
            raise ValueError('clip_cons compares the 2D-branch features of a bi_encoder')
        self.clip_cons = MODELS.build(clip_cons) if clip_cons else None
        self.injector = None
        if injector is not None:
            unet = self.backbone3d
            widths = (unet.skip_channels() if injector.get('inject_at') == 'skip'
                      else unet.decoder_channels())
            self.injector = MODELS.build(dict(dict(out_channels=widths), **injector))

    @property
    def backbone3d(self):
        """The sparse U-Net (the ``backbone``, or the ``bi_encoder``'s ``backbone3d``)."""
        return self.bi_encoder.backbone3d if self.bi_encoder is not None else self.backbone

    def last_voxel_2d(self):
        """The 2D branch's per-voxel features of the last forward: ``(coordinates (M, 4)
        int32, features (M, C), valid (M,) bool)`` (what ``ClipConsCriterion`` pairs across
        frames); None without a ``bi_encoder``."""
        return None if self.bi_encoder is None else self.bi_encoder.last_voxel_2d

    def fusion_stats(self) -> dict:
        """Scalars of the last forward to log with the losses (``fusion_valid_ratio``,
        ``fusion_gate_2d``, ``inject_valid_ratio``, ...); empty without a ``bi_encoder`` or
        an ``injector``."""
        stats = {}
        if self.bi_encoder is not None:
            stats.update({f'fusion_{k}': v for k, v in self.bi_encoder.stats.items()})
        if self.injector is not None:
            stats.update({f'inject_{k}': v for k, v in self.injector.stats.items()})
        return {k: v.to(self.data_preprocessor.device) for k, v in stats.items()}

    # ------------------------------------------------------------------ features
    def extract_feat(self, inputs: dict, injector=None):
        """Per-sample superpoint features (``injector``: the backbone's hook or chain of hooks,
        e.g. the online memory; see ``Res16UNet34C.forward``).

        Returns:
            ``sp_feats`` list of (S_i, C), ``point2sp`` list of (N_i,) int64, ``sp_xyz``
            list of (S_i, 3) superpoint centroids (metres, the points' frame) and ``pts``
            list of ``{'feats': (N_i, C), 'xyz': (N_i, 3), 'weight': (N_i,) or None}``: the
            per-point features the pooling read, their positions and the pooling's per-point
            weights (``GeoAwarePooling``; None for the mean) — what a point-level decoder
            (``MixQueryDecoder``) reads.
        """
        v = inputs['voxels']
        # MinkowskiEngine's kernels take fp32/fp64 only: under --amp the sparse part runs in
        # fp32 with autocast off; the decoder (dense attention) runs under the caller's
        # autocast
        with torch.autocast(device_type=v['features'].device.type, enabled=False):
            x = ME.SparseTensor(features=v['features'].float(), coordinates=v['coordinates'])
            if self.injector is not None:      # e.g. the DINO pyramid of this batch
                self.injector.prepare(x, inputs)
                injector = [h for h in (injector, self.injector) if h is not None]
            if self.bi_encoder is None:
                out, _ = self.backbone(x, injector=injector)
            else:    # its 2D branch sets its own autocast (use_amp)
                out = self.bi_encoder(x, inputs, injector=injector)
            if self.neck is not None:
                out = self.neck(out)
        # stride-1 output rows follow the input coordinates' order (unique by construction)
        vfeat = out.F
        sp_feats, point2sp, sp_xyz, points = [], [], [], []
        for p2v, sample, pts in zip(v['point2voxel'], inputs['sp_pts_mask'], inputs['points']):
            uniq, p2s = torch.unique(sample, return_inverse=True)
            xyz = pts[:, :3].to(vfeat.dtype)
            pfeats = vfeat[p2v]
            feats, weight = self.pool(pfeats, p2s, xyz, len(uniq))
            sp_feats.append(feats)
            sp_xyz.append(pool_rows(xyz, p2s, len(uniq), 'mean'))
            point2sp.append(p2s)
            points.append(dict(feats=pfeats, xyz=xyz, weight=weight))
        return sp_feats, point2sp, sp_xyz, points

    @staticmethod
    def sp_targets(point2sp: torch.Tensor, ins: torch.Tensor, labels: torch.Tensor,
                   num_sp: int) -> torch.Tensor:
        """(G, S) float: superpoint s belongs to instance g when > 50 % of its points do."""
        g = labels.shape[0]
        counts = torch.zeros(g + 1, num_sp, device=point2sp.device)
        counts.index_put_((ins, point2sp), torch.ones_like(ins, dtype=counts.dtype),
                          accumulate=True)
        size = counts.sum(0).clamp(min=1)
        return (counts[1:] / size > 0.5).float()

    def instance_targets(self, point2sp: torch.Tensor, ins: torch.Tensor,
                         labels: torch.Tensor, num_sp: int, xyz: torch.Tensor,
                         boxes: Optional[torch.Tensor] = None) -> dict:
        """One sample's criterion targets: ``labels`` (G,), ``masks`` (G, S) float
        (:meth:`sp_targets`) and, for a decoder with point-level masks, ``point_masks``
        (G, N) float (ESAM's ``p_masks``); for one with a box head, ``boxes`` (G, 6)
        (centre, size; metres): the given ``boxes`` (the data's ``gt_instances_3d.bboxes_3d``,
        :class:`ScanInstanceBoxes`: the whole instance in the scan, as ESAM) or else the
        axis-aligned extent of each instance's points in the sample.

        ``ins`` (N,) int64: 0 = no instance, g + 1 = instance g; ``xyz`` (N, 3) the points.
        """
        out = dict(labels=labels, masks=self.sp_targets(point2sp, ins, labels, num_sp))
        g = labels.shape[0]
        if self.decoder.needs_point_masks:
            ids = torch.arange(1, g + 1, device=ins.device)
            out['point_masks'] = (ins[None] == ids[:, None]).to(out['masks'].dtype)
        if self.decoder.predicts_boxes and boxes is not None:
            out['boxes'] = boxes.to(out['masks'])
        elif self.decoder.predicts_boxes:
            inside = (ins > 0) & (ins <= g)
            idx, pts = ins[inside] - 1, xyz[inside].to(out['masks'].dtype)
            lo, hi = pool_rows(pts, idx, g, 'amin'), pool_rows(pts, idx, g, 'amax')
            out['boxes'] = torch.cat([(lo + hi) / 2, hi - lo], dim=1)
        return out

    @staticmethod
    def add_query_masks(targets: List[dict], query_idx: List[torch.Tensor],
                        sp_xyz: Optional[List[torch.Tensor]] = None) -> List[dict]:
        """Each target with ``query_masks`` (G, Q) bool: True where query q's seed superpoint
        (``query_idx[q]``, the decoder's sampled superpoints) lies in GT instance g — what
        ``SparseMatcher`` matches within (OneFormer3D ``_select_queries``:
        ``sp_masks[:, ids]``) — and, given ``sp_xyz``, ``query_centres`` (Q, 3) the seed
        superpoints' centroids (what ESAM's boxes are offsets from)."""
        out = [dict(t, query_masks=t['masks'][:, idx] > 0.5)
               for t, idx in zip(targets, query_idx)]
        if sp_xyz is not None:
            for t, idx, xyz in zip(out, query_idx, sp_xyz):
                t['query_centres'] = xyz[idx]
        return out

    @staticmethod
    def mask_columns(layer: dict, point2sp: torch.Tensor) -> torch.Tensor:
        """(N,) int64: the mask column of each point — its superpoint for superpoint-level
        masks, itself for point-level ones (``mask_mode`` ``'P'``, ESAM's last layers)."""
        if layer.get('mask_mode', 'SP') == 'P':
            return torch.arange(point2sp.shape[0], device=point2sp.device)
        return point2sp

    @staticmethod
    def sp_semantics(point2sp, sem, num_sp, num_classes):
        """(S,) majority semantic train id per superpoint (ignore id included as a class)."""
        counts = torch.zeros(num_sp, num_classes + 1, device=point2sp.device)
        counts.index_put_((point2sp, sem), torch.ones_like(sem, dtype=counts.dtype),
                          accumulate=True)
        return counts.argmax(1)

    def _split_inputs(self, inputs, data_samples):
        inputs = dict(inputs)
        inputs['sp_pts_mask'] = [ds.gt_pts_seg.sp_pts_mask for ds in data_samples]
        return inputs

    # ------------------------------------------------------------------ modes
    def forward(self, inputs: dict, data_samples=None, mode: str = 'tensor'):
        if 'frame_idx' in inputs and mode in ('loss', 'predict'):     # a multi-view batch
            fn = self.loss_sequence if mode == 'loss' else self.predict_sequence
            return fn(inputs, data_samples)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        sp_feats, point2sp, sp_xyz, pts = self.extract_feat(
            self._split_inputs(inputs, data_samples))
        return self.decoder(sp_feats, training=self.training, sp_xyz=sp_xyz, points=pts,
                            point2sp=point2sp)

    def loss_sequence(self, inputs: dict, data_samples: List) -> dict:
        """Multi-view training (ESAM): :func:`oneformer3d.models.online.loss_sequence`."""
        return loss_sequence(self, inputs, data_samples)

    @torch.no_grad()
    def predict_sequence(self, inputs: dict, data_samples: List) -> List:
        """Multi-view streaming inference: :func:`oneformer3d.models.online.predict_sequence`."""
        return predict_sequence(self, inputs, data_samples)

    def loss(self, inputs: dict, data_samples: List) -> dict:
        sp_feats, point2sp, sp_xyz, pts = self.extract_feat(
            self._split_inputs(inputs, data_samples))
        out = self.decoder(sp_feats, training=True, sp_xyz=sp_xyz, points=pts,
                           point2sp=point2sp)
        targets, sp_sem = [], []
        for ds, p2s, f, p in zip(data_samples, point2sp, sp_feats, pts):
            seg = ds.gt_pts_seg
            labels = ds.gt_instances_3d.labels_3d
            if self.num_instance_classes == 1:
                labels = torch.zeros_like(labels)
            targets.append(self.instance_targets(p2s, seg.pts_instance_mask, labels,
                                                 f.shape[0], p['xyz'],
                                                 ds.gt_instances_3d.get('bboxes_3d')))
            if self.sem_criterion is not None:   # the semantic rows' superpoints
                sp_sem.append(self.sp_semantics(p2s, seg.pts_semantic_mask, f.shape[0],
                                                self.sem_criterion.ignore_index)
                              [out['sem_idx'][len(sp_sem)]])
        losses = self.criterion(out['layers'],
                                self.add_query_masks(targets, out['query_idx'], sp_xyz))
        if self.sem_criterion is not None:
            losses.update(self.sem_criterion(out['sem'], sp_sem))
        losses.update(self.fusion_stats())
        return losses

    @torch.no_grad()
    def predict(self, inputs: dict, data_samples: List) -> List:
        sp_feats, point2sp, sp_xyz, pts = self.extract_feat(
            self._split_inputs(inputs, data_samples))
        out = self.decoder(sp_feats, training=False, sp_xyz=sp_xyz, points=pts,
                           point2sp=point2sp)
        last = out['layers'][-1]
        for i, ds in enumerate(data_samples):
            ds.pred_instances_3d = self.predict_instances(
                last['cls'][i], last['masks'][i], last['scores'][i],
                self.mask_columns(last, point2sp[i]))
            if out['sem'] is not None:   # every superpoint is a semantic row at test time
                sem = out['sem'][i].new_zeros(len(sp_feats[i]), out['sem'][i].shape[1])
                sem[out['sem_idx'][i]] = out['sem'][i]
                ds.pred_pts_seg = PointData(pts_semantic_mask=sem.argmax(-1)[point2sp[i]])
        return data_samples

    def predict_instances(self, cls: torch.Tensor, masks: torch.Tensor,
                          obj: Optional[torch.Tensor], point2sp: torch.Tensor) -> InstanceData:
        """Top-k (query, class) pairs -> per-point masks, labels, scores.

        OneFormer3D's ``predict_by_feat_instance`` (filaPro/oneformer3d): score = class
        probability (x sigmoid objectness when the decoder has the head); the ``topk_insts``
        best (query, class) pairs; score x mean mask probability inside the mask (logit > 0)
        when ``obj_normalization``; label-aware matrix NMS on the soft superpoint masks;
        binarise at ``sp_score_thr``; keep ``score > score_thr`` and more than ``npoint_thr``
        points.

        Args:
            cls: (Q, K + 1) class logits; masks: (Q, S) mask logits; obj: (Q,) objectness
                logits or None; point2sp: (N,) int64 mask column of each point (its
                superpoint; the identity for point-level masks, :meth:`mask_columns`).
        """
        cfg = self.test_cfg
        k = cls.shape[1] - 1
        scores = cls.softmax(-1)[:, :-1]
        if obj is not None:
            scores = scores * obj.sigmoid()[:, None]
        topk = min(cfg['topk_insts'], scores.numel())
        scores, idx = scores.flatten().topk(topk)
        labels, q = idx % k, idx // k
        logits = masks[q]
        prob = logits.sigmoid()
        if cfg['obj_normalization']:
            inside = logits > 0
            scores = scores * (prob * inside).sum(1) / (inside.sum(1) + 1e-6)
        if cfg['nms']:
            scores = matrix_nms(prob, labels, scores, cfg['matrix_nms_kernel'])
        point_masks = (prob > cfg['sp_score_thr'])[:, point2sp]
        keep = (point_masks.sum(1) > cfg['npoint_thr']) & (scores > cfg['score_thr'])
        return InstanceData(pts_instance_mask=point_masks[keep], instance_labels=labels[keep],
                            instance_scores=scores[keep], query_index=q[keep])
