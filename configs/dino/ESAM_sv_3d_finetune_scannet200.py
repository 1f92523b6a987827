# The DINO routes' common fine-tuning schedule, and the 3D control of the DINO ablation: the 3D
# SV checkpoint trained further on exactly this schedule (64 epochs, AdamW lr 5e-5, PolyLR), so
# a DINO route's gain is not just extra epochs. Single frames allow few augmentations, so the
# DINO routes fine-tune this checkpoint, never train from scratch. DINO-FPN-inject and
# DINO-early inherit this file; DINO-BiFusion (a BiFusion child) repeats these four settings
# (tests/test_ablation.py checks that every DINO route of a scale has the same schedule).
_base_ = ['../esam/ESAM_sv_3d_scannet200.py']
model = dict(backbone=dict(pretrained=None))   # the weights come from load_from
optim_wrapper = dict(optimizer=dict(lr=5e-5))
param_scheduler = dict(end=64)
train_cfg = dict(max_epochs=64, val_interval=8)
load_from = 'work_dirs/ESAM_sv_3d_scannet200/epoch_128.pth'
