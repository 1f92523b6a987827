# DINO-BiFusion (single scale): the fine-tuned 3D control plus the BiFusion encoder
# (../_base_/models/bifusion_encoder.py) fed with the DINOv2 ViT-L/14 store (1024 channels at
# the CLIP path convention; the channel-agnostic conv_reduce maps 1024 -> 256). No Tiny-SA
# neck: its parent, the 3D SV row, has none. Identity start: the 3D SV checkpoint's U-Net
# goes into bi_encoder.backbone3d (load_policy prefix_map), proj3d is the identity and
# proj2d zero, so the row predicts exactly what the 3D SV checkpoint predicts at step 0.
_base_ = ['./ESAM_sv_3d_finetune_scannet200.py', '../_base_/models/bifusion_encoder.py']
model = dict(
    backbone=None,
    bi_encoder=dict(_base_.bifusion_encoder, backbone3d=_base_.model.backbone,
                    img_channels=1024))
load_policy = dict(prefix_map={'backbone.': 'bi_encoder.backbone3d.'})
train_dataloader = dict(dataset={{_base_.clip_train_dataset}})
val_dataloader = dict(dataset={{_base_.clip_val_dataset}})
test_dataloader = val_dataloader
