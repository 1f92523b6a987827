# OneFormer3D class-aware instance + semantic segmentation on reconstructed ScanNet scans
# (ScanNet-20 tables: 18 instance / 20 semantic classes), as filaPro/oneformer3d
# configs/oneformer3d_1xb4_scannet.py: 6 decoder layers, topk_insts 600, semantic loss 0.2,
# AdamW 1e-4, PolyLR over 512 epochs, batch 4.
# Deliberate differences: the backbone is Res16UNet34C (MinkowskiEngine; upstream's ScanNet-20
# model uses an spconv U-Net, its ScanNet200 model this one), and the decoder keeps an
# objectness head (objectness_flag=True; its score multiplies the class probability; upstream
# objectness_flag=False): the CPU sample configs below rank their few queries with it.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/schedules/poly_adamw_128e.py',
    '../_base_/datasets/scannet_seg.py', '../_base_/models/oneformer3d.py'
]
model = dict(
    num_instance_classes=18,
    decoder=dict(num_layers=6, num_semantic_classes=20, objectness_flag=True),
    sem_criterion=dict(type='SemanticCriterion', ignore_index=20, loss_weight=0.2),
    test_cfg=dict(topk_insts=600))
max_epochs = 512
param_scheduler = dict(end=max_epochs)
train_cfg = dict(max_epochs=max_epochs, val_interval=16)
