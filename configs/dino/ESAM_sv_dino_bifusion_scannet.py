# DINO-BiFusion on ScanNet-20 frames: the ScanNet-20 fine-tuning control plus the BiFusion
# encoder on the DINOv2 store (as ESAM_sv_dino_bifusion_scannet200.py).
_base_ = ['./ESAM_sv_3d_finetune_scannet.py', '../_base_/models/bifusion_encoder.py']
model = dict(
    backbone=None,
    bi_encoder=dict(_base_.bifusion_encoder, backbone3d=_base_.model.backbone,
                    img_channels=1024))
load_policy = dict(prefix_map={'backbone.': 'bi_encoder.backbone3d.'})
train_dataloader = dict(dataset={{_base_.clip_train_dataset}})
val_dataloader = dict(dataset={{_base_.clip_val_dataset}})
test_dataloader = val_dataloader
