# The DINO routes' common fine-tuning schedule, and the 3D control of the DINO ablation: the 3D
# SV checkpoint trained further on exactly this schedule (the ablation recipe with lr 5e-5,
# cosine over 64 epochs), so a DINO route's gain is not just extra epochs. Single frames allow
# few augmentations, so the DINO routes fine-tune this checkpoint, never train from scratch.
# Every DINO route is this file plus its module (tests/test_ablation.py checks that each
# differs from it only in what the route table declares).
_base_ = ['../esam/ESAM_sv_3d_scannet200.py']
model = dict(backbone=dict(pretrained=None))   # the weights come from load_from
optim_wrapper = dict(optimizer=dict(lr=_base_.recipe_ft_lr))
param_scheduler = _base_.recipe_ft_param_scheduler
train_cfg = dict(max_epochs=_base_.recipe_ft_epochs, val_interval=8)
load_from_run = 'ESAM_sv_3d_scannet200'
