# OneFormer3D-style class-aware instance + semantic segmentation on reconstructed ScanNet
# scans (ScanNet-20 tables: 18 instance / 20 semantic classes).
_base_ = [
    '../_base_/default_runtime.py', '../_base_/schedules/poly_adamw_128e.py',
    '../_base_/datasets/scannet_seg.py', '../_base_/models/oneformer3d_ca.py'
]
model = dict(
    num_instance_classes=18,
    decoder=dict(num_semantic_classes=20),
    sem_criterion=dict(type='SemanticCriterion', ignore_index=20, loss_weight=0.2))
