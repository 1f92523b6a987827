# DINO-BiFusion on the SV sample: the fine-tuned 3D control of the sample plus the BiFusion
# encoder (RGB-patch store standing in for DINOv2: no weights can be downloaded here), from
# the 3D SV sample checkpoint with the identity start.
_base_ = ['./ESAM_sv_3d_finetune_scannet_sample.py', '../_base_/models/bifusion_encoder.py']
model = dict(
    backbone=None,
    bi_encoder=dict(_base_.bifusion_encoder, backbone3d=_base_.model.backbone,
                    img_channels=3, img_stride=16.2, use_amp=False))
load_policy = dict(prefix_map={'backbone.': 'bi_encoder.backbone3d.'})
train_dataloader = dict(dataset={{_base_.clip_train_dataset}})
val_dataloader = dict(dataset={{_base_.clip_val_dataset}})
test_dataloader = val_dataloader
