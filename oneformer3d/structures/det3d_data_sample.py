"""``Det3DDataSample`` and ``PointData``: the per-sample containers passed between the data
pipeline, the model and the metrics (names and roles as in mmdetection3d, written on
mmengine's data elements, holding only what this project uses).

Fields of :class:`Det3DDataSample`:

* ``gt_instances_3d`` (``InstanceData``): ``labels_3d`` (G,) int64 instance train ids,
  ``sp_masks`` (G, S) bool instance masks over superpoints (built by the criterion's target
  builder), ``point_masks`` (G, N) bool.
* ``gt_pts_seg`` (:class:`PointData`): ``pts_semantic_mask`` (N,) int64 train ids,
  ``pts_instance_mask`` (N,) int64 (0 = none), ``sp_pts_mask`` (N,) int64 superpoint ids.
* ``pred_instances_3d`` (``InstanceData``): ``pts_instance_mask`` (K, N) bool,
  ``instance_labels`` (K,) int64, ``instance_scores`` (K,) float.
* ``pred_pts_seg`` (:class:`PointData`): ``pts_semantic_mask`` (N,) int64.
* ``eval_ann_info`` (dict): GT for the metric, on the points evaluated.
"""
from mmengine.structures import BaseDataElement, InstanceData


class PointData(BaseDataElement):
    """Per-point fields: every value's first dimension is the number of points.

    Raises:
        AssertionError: when a field's length differs from the fields already set.
    """

    def __setattr__(self, name, value):
        if name not in ('_metainfo_fields', '_data_fields') and hasattr(value, '__len__') \
                and not name.startswith('_') and len(self) > 0:
            assert len(value) == len(self), \
                f'PointData field {name!r} has length {len(value)}, expected {len(self)}'
        super().__setattr__(name, value)

    def __len__(self) -> int:
        for v in self.values():
            if hasattr(v, '__len__'):
                return len(v)
        return 0


class Det3DDataSample(BaseDataElement):
    """One sample's GT, predictions and meta information (see the module docstring)."""

    @property
    def gt_instances_3d(self) -> InstanceData:
        return self._gt_instances_3d

    @gt_instances_3d.setter
    def gt_instances_3d(self, value: InstanceData):
        self.set_field(value, '_gt_instances_3d', dtype=InstanceData)

    @property
    def pred_instances_3d(self) -> InstanceData:
        return self._pred_instances_3d

    @pred_instances_3d.setter
    def pred_instances_3d(self, value: InstanceData):
        self.set_field(value, '_pred_instances_3d', dtype=InstanceData)

    @property
    def gt_pts_seg(self) -> PointData:
        return self._gt_pts_seg

    @gt_pts_seg.setter
    def gt_pts_seg(self, value: PointData):
        self.set_field(value, '_gt_pts_seg', dtype=PointData)

    @property
    def pred_pts_seg(self) -> PointData:
        return self._pred_pts_seg

    @pred_pts_seg.setter
    def pred_pts_seg(self, value: PointData):
        self.set_field(value, '_pred_pts_seg', dtype=PointData)
