"""Multi-view (online) paths of :class:`OneFormer3D` (its ``loss_sequence`` /
``predict_sequence``, through the detector's public methods only): frame-by-frame training
and streaming inference (ESAM). A sample's frames share one world frame;
``inputs['frame_idx']`` tells each point's frame. Per frame the backbone runs with the ``memory`` as its decoder injector (reset
at the start of each sequence), the decoder predicts the frame's instances, and

* training: the instance (and semantic) criterion on the GT instances visible in that frame,
  summed over frames (ESAM), plus the ``merge_criterion`` on the ``merge_head`` embeddings of
  the queries it selects (matched or seeded) in consecutive frames and the ``clip_cons``
  criterion on the ``bi_encoder``'s per-voxel 2D features of consecutive frames;
* inference: the frame's instances (same top-k / NMS as single view) are merged into the
  scene by :class:`~oneformer3d.models.online.OnlineInstanceMerger`; the scene result is
  mapped onto ``inputs['scan_points']`` (the reconstructed scan) when present.
"""
from typing import List, Optional

import torch
from mmengine.structures import InstanceData

from oneformer3d.registry import TASK_UTILS
from ..data_preprocessors import collate_voxels
from ..criteria.instance_criterion import seed_boxes
from .instance_merger import points_to_voxel_keys


FRAME_CAMERA_KEYS = ('intrinsic', 'pose', 'img_shape', 'stride')


def frame_inputs(model, points: List[torch.Tensor], superpoints: List[torch.Tensor],
                 inputs: Optional[dict] = None, t: Optional[int] = None,
                 sel: Optional[List[torch.Tensor]] = None,
                 voxels: Optional[dict] = None) -> dict:
    """One frame per sample as the model's inputs; superpoint ids are made contiguous per
    frame. The voxels are the data preprocessor's (``inputs['frame_voxels']``, frame ``t`` of
    each sample batched by :func:`collate_voxels`), or, for a raw frame without them (a
    streaming session), its :meth:`voxelize_points` of ``points``.

    With the batch's ``inputs`` holding 2D features (``clip_pix`` (B, T, C, H_f, W_f) or a
    list of (T, ...), ``camera`` with per-frame entries (B, T, ...)), frame ``t``'s maps,
    global tokens and camera (and the ``elastic_offset`` rows ``sel`` of each sample's
    points) are carried along, so a 2D-fusion part sees exactly that frame's view.
    """
    sps = [torch.unique(sp, return_inverse=True)[1] for sp in superpoints]
    if voxels is None and inputs is not None and inputs.get('frame_voxels') is not None \
            and t is not None:
        voxels = collate_voxels([fv[t] for fv in inputs['frame_voxels']])
    elif voxels is None:
        voxels = model.data_preprocessor.voxelize_points(points)
    out = dict(points=points, sp_pts_mask=sps, voxels=voxels)
    if inputs is not None and inputs.get('clip_pix') is not None:
        def at_t(x):
            if x is None:
                return None
            if isinstance(x, torch.Tensor):
                return x[:, t]
            return [None if v is None else v[t] for v in x]
        out['clip_pix'] = at_t(inputs['clip_pix'])
        out['clip_global'] = at_t(inputs.get('clip_global'))
        if inputs.get('img') is not None:       # images for maps computed in the model
            out['img'] = [None if v is None else v[t] for v in inputs['img']]
        if inputs.get('clip_feat_path') is not None:
            out['clip_feat_path'] = [p[t] if isinstance(p, (list, tuple)) else p
                                     for p in inputs['clip_feat_path']]
        cam = dict(inputs['camera'])
        for key in FRAME_CAMERA_KEYS:
            cam[key] = cam[key][:, t]
        out['camera'] = cam
        offsets = inputs.get('elastic_offset')
        out['elastic_offset'] = None if offsets is None else [
            None if o is None else o[s] for o, s in zip(offsets, sel)]
    return out


def num_frames(inputs) -> int:
    """The frame count of a multi-view batch (``inputs['frame_idx']``).

    Raises:
        ValueError: samples with different frame counts.
    """
    counts = [int(f.max()) + 1 if len(f) else 0 for f in inputs['frame_idx']]
    if len(set(counts)) != 1:
        raise ValueError(f'multi-view batch with different frame counts {counts}: '
                         f"LoadAdjacentDataFromFile(pad_short='repeat_last') pads short "
                         f'sequences to num_frames (or use batch_size=1)')
    return counts[0]


def reset_online_state(model):
    """Start a new sequence: the memory forgets every earlier frame."""
    if model.memory is not None:
        model.memory.reset()


def loss_sequence(model, inputs: dict, data_samples: List) -> dict:
    """The clip's losses: each frame's instance (and semantic) losses summed over the clip,
    the merge criterion over consecutive frames, ClipCons when its weight is not 0."""
    reset_online_state(model)
    frames = num_frames(inputs)
    totals, merge_frames, cons_frames = {}, [], []
    use_cons = model.clip_cons is not None and model.clip_cons.loss_weight != 0
    for t in range(frames):
        sel = [f == t for f in inputs['frame_idx']]
        pts = [p[s] for p, s in zip(inputs['points'], sel)]
        sps = [ds.gt_pts_seg.sp_pts_mask[s] for ds, s in zip(data_samples, sel)]
        fin = frame_inputs(model, pts, sps, inputs, t, sel)
        sp_feats, point2sp, sp_xyz, pts = model.extract_feat(fin, injector=model.memory)
        if use_cons:
            cons_frames.append(model.last_voxel_2d())
        out = model.decoder(sp_feats, training=True, sp_xyz=sp_xyz, points=pts,
                            point2sp=point2sp)
        targets, scene_ids, sp_sem = [], [], []
        for b, (ds, s, p2s, f, p) in enumerate(zip(data_samples, sel, point2sp, sp_feats,
                                                    pts)):
            ins = ds.gt_pts_seg.pts_instance_mask[s]
            ids, local = torch.unique(ins, return_inverse=True)  # 0 (none) stays first
            if len(ids) and ids[0] != 0:
                ids, local = torch.cat([ids.new_zeros(1), ids]), local + 1
            labels = ds.gt_instances_3d.labels_3d[ids[1:] - 1]
            if model.num_instance_classes == 1:
                labels = torch.zeros_like(labels)
            boxes = ds.gt_instances_3d.get('bboxes_3d')      # ScanInstanceBoxes (scene ids)
            targets.append(model.instance_targets(
                p2s, local, labels, f.shape[0], p['xyz'],
                None if boxes is None else boxes[ids[1:] - 1]))
            scene_ids.append(ids[1:])
            if model.sem_criterion is not None:   # the semantic rows' superpoints
                sp_sem.append(model.sp_semantics(
                    p2s, ds.gt_pts_seg.pts_semantic_mask[s], f.shape[0],
                    model.sem_criterion.ignore_index)[out['sem_idx'][b]])
        targets = model.add_query_masks(targets, out['query_idx'], sp_xyz)
        losses = model.criterion(out['layers'], targets)
        if model.sem_criterion is not None:
            losses.update(model.sem_criterion(out['sem'], sp_sem))
        # each frame's losses are summed over the clip (ESAM's MixFormer3D_Online.loss adds
        # them up); the logged statistics are averaged
        for k, v in losses.items():
            totals[k] = totals.get(k, 0) + v
        for k, v in model.fusion_stats().items():
            totals[k] = totals.get(k, 0) + v / frames
        if model.merge_criterion is not None:
            emb = [model.merge_head(q) for q in out['queries']]
            merge_frames.append(model.merge_criterion.select(
                emb, scene_ids, targets,
                lambda: model.criterion.match(out['layers'][-1], targets)))
    if model.merge_criterion is not None:
        per_sample = [model.merge_criterion([f[b] for f in merge_frames])['loss_merge']
                      for b in range(len(data_samples))]
        totals['loss_merge'] = torch.stack(per_sample).mean()
    if use_cons:
        totals.update(model.clip_cons(cons_frames))
    return totals


class OnlineSession:
    """Stream one sequence through the model frame by frame (inference, no gradients).

    ``step(points (N, C) tensor, superpoints (N,) int64)`` -> the frame's ``InstanceData``
    and the merge counts; ``merger`` holds the scene result; ``state_nbytes()`` = memory +
    merger state. ``points`` are in the sequence's common frame (metres, colour columns as
    the model was trained with).
    """

    def __init__(self, model, merger_cfg: Optional[dict] = None):
        self.model = model
        reset_online_state(model)
        self.merger = TASK_UTILS.build(merger_cfg or model.merger_cfg)

    @torch.no_grad()
    def step(self, points: torch.Tensor, superpoints: torch.Tensor,
             view: Optional[dict] = None, voxels: Optional[dict] = None):
        """One frame; ``view``: that frame's 2D inputs with a batch of one (``clip_pix``,
        ``clip_global``, ``camera``, ``elastic_offset`` as :func:`frame_inputs` gives them);
        ``voxels``: the data preprocessor's voxels of the frame (else voxelized here by the
        preprocessor's :meth:`voxelize_points`)."""
        model = self.model
        if len(points) == 0:
            return InstanceData(), self.merger.update([], torch.zeros(0, 1), torch.zeros(0),
                                                      torch.zeros(0, dtype=torch.long))
        fin = frame_inputs(model, [points], [superpoints], voxels=voxels)
        fin.update(view or {})
        sp_feats, point2sp, sp_xyz, pts = model.extract_feat(fin, injector=model.memory)
        out = model.decoder(sp_feats, training=False, sp_xyz=sp_xyz, points=pts,
                            point2sp=point2sp)
        last = out['layers'][-1]
        inst = model.predict_instances(last['cls'][0], last['masks'][0], last['scores'][0],
                                       model.mask_columns(last, point2sp[0]))
        queries = out['queries'][0][inst.query_index]
        emb = model.merge_head(queries) if model.merge_head is not None else queries
        xyz = points[:, :3].float()
        keys = [points_to_voxel_keys(xyz[m].cpu(), self.merger.voxel_size)
                for m in inst.pts_instance_mask]
        # ESAM's merge cues: each instance's query class logits and seed-superpoint centre
        # (and, with the decoder's box head, its box: the centre plus the predicted offset)
        seeds = out['query_idx'][0][inst.query_index]
        centres = sp_xyz[0][seeds]
        boxes = None
        if last.get('boxes') is not None:
            boxes = seed_boxes(last['boxes'][0][inst.query_index], centres)
        counts = self.merger.update(keys, emb, inst.instance_scores, inst.instance_labels,
                                    cls=last['cls'][0][inst.query_index],
                                    centres=centres, boxes=boxes)
        return inst, counts

    def state_nbytes(self) -> int:
        mem = self.model.memory.state_nbytes() if self.model.memory is not None else 0
        return mem + self.merger.state_nbytes()


def _sample_of(inputs: dict, b: int) -> dict:
    """The 2D inputs of sample ``b`` with a batch dimension of one."""
    def pick(x):
        if x is None:
            return None
        return x[b:b + 1] if isinstance(x, torch.Tensor) else [x[b]]
    return dict(clip_pix=pick(inputs['clip_pix']), clip_global=pick(inputs.get('clip_global')),
                clip_feat_path=pick(inputs.get('clip_feat_path')), img=pick(inputs.get('img')),
                camera={k: v[b:b + 1] for k, v in inputs['camera'].items()},
                elastic_offset=pick(inputs.get('elastic_offset')),
                frame_voxels=pick(inputs.get('frame_voxels')))


def predict_sequence(model, inputs: dict, data_samples: List) -> List:
    """Stream each sample's frames through an :class:`OnlineSession`; the merged scene
    instances on the scan points (``inputs['scan_points']``) when given."""
    for b, ds in enumerate(data_samples):
        session = OnlineSession(model)
        fidx = inputs['frame_idx'][b]
        for t in range(int(fidx.max()) + 1 if len(fidx) else 0):
            sel = fidx == t
            view = None
            if inputs.get('clip_pix') is not None:   # this sample's view of frame t
                one = frame_inputs(model, [inputs['points'][b][sel]],
                                   [ds.gt_pts_seg.sp_pts_mask[sel]],
                                   _sample_of(inputs, b), t, [sel])
                view = {k: one[k] for k in ('clip_pix', 'clip_global', 'camera',
                                            'elastic_offset', 'clip_feat_path', 'img')
                        if k in one}
            session.step(inputs['points'][b][sel], ds.gt_pts_seg.sp_pts_mask[sel], view,
                         voxels=inputs['frame_voxels'][b][t])
        if 'scan_points' in inputs:
            result = session.merger.to_points(inputs['scan_points'][b].cpu().numpy())
        else:   # no scan: the scene instances as their voxel centres
            result = dict(instance_labels=session.merger.labels,
                          instance_scores=session.merger.scores)
        ds.pred_instances_3d = InstanceData(**result)
        ds.set_metainfo(dict(online_stats=dict(session.merger.stats,
                                               instances=len(session.merger))))
    return data_samples
