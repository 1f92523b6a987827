# DINO pyramid injection on the SV sample (three real frames of scene0000_00), fine-tuning the
# 3D SV sample checkpoint on the DINO routes' sample schedule. No DINOv2 weights can be
# downloaded here: the sample's 2D store is the weight-free RGB-patch one (3 channels) of
# ESAM_sv_bifusion_scannet_sample.py (same preparation); with a DINOv2 store set in_channels
# (1024 for ViT-L/14).
_base_ = ['./ESAM_sv_3d_finetune_scannet_sample.py', '../_base_/models/dino_injectors.py']
model = dict(injector=dict(_base_.dino_fpn_injector, in_channels=3))
train_dataloader = dict(dataset={{_base_.clip_train_dataset}})
val_dataloader = dict(dataset={{_base_.clip_val_dataset}})
test_dataloader = val_dataloader
