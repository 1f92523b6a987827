# ESAM single-view, class-agnostic ScanNet200 baseline (ESAM's CA setting): voxel 0.02 m,
# 3 decoder layers, AdamW 1e-4, PolyLR, 128 epochs, batch 16.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/schedules/poly_adamw_128e.py',
    '../_base_/datasets/scannet200_sv.py', '../_base_/models/oneformer3d_ca.py'
]
model = dict(num_instance_classes=1, data_preprocessor=dict(voxel_size=0.02),
             decoder=dict(num_layers=3))
