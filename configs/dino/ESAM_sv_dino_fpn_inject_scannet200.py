# DINO pyramid + decoder injection (DITR-style) on the ESAM single-view ScanNet200 baseline:
# frozen DINOv2 ViT-L/14 last-block patch tokens (1024 channels, stored at the CLIP path
# convention: tools/extract_2d_features.py --encoder DINOv2 on the *_clip.pkl infos), max-pooled
# per voxel and down the U-Net's strides, added through zero-initialised 1x1 projections to
# each decoder stage's upsampled tensor (inject_at='skip' adds to the skip tensor, DITR's
# choice). Fine-tunes the 3D SV checkpoint (the model starts exactly as it) on the DINO
# routes' schedule (ESAM_sv_3d_finetune_scannet200.py).
_base_ = ['./ESAM_sv_3d_finetune_scannet200.py', '../_base_/models/dino_injectors.py']
model = dict(injector=_base_.dino_fpn_injector)
train_dataloader = dict(dataset={{_base_.clip_train_dataset}})
val_dataloader = dict(dataset={{_base_.clip_val_dataset}})
test_dataloader = val_dataloader
