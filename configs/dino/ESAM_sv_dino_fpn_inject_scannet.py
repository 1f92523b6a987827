# DINO pyramid injection on ScanNet-20 frames: the ScanNet-20 fine-tuning control plus the
# injector (as ESAM_sv_dino_fpn_inject_scannet200.py).
_base_ = ['./ESAM_sv_3d_finetune_scannet.py', '../_base_/models/dino_injectors.py']
model = dict(injector=_base_.dino_fpn_injector)
train_dataloader = dict(dataset={{_base_.clip_train_dataset}})
val_dataloader = dict(dataset={{_base_.clip_val_dataset}})
test_dataloader = val_dataloader
