# ESAM online multi-view BiFusion: BiFusion SV whole (load_from: U-Net, 2D branch, gate,
# neck, decoder) plus the memory and merge head of the 3D+Tiny-SA MV model (its control's
# partial_load; the memory's conversion convolution stays at zero), so it starts exactly
# as BiFusion SV predicts; every frame of a sample projects into its own stored CLIP map
# (create_data.py scannet200_mv --pack-clip, then extract_2d_features.py). Recipe, batch and
# length: its control's (ESAM_online_3dtsa_long_scannet200.py); on 24 GB cards lower
# train_dataloader.batch_size for the control and this row together.
_base_ = ['./ESAM_online_3dtsa_long_scannet200.py', '../_base_/models/bifusion_encoder.py']
model = dict(
    backbone=None,
    bi_encoder=dict(_base_.bifusion_encoder, backbone3d=_base_.model.backbone),
    # cross-view consistency of the 2D-branch features (off: weight 0)
    clip_cons=dict(type='ClipConsCriterion', loss_weight=0.0, temperature=0.07,
                   mode='infonce'))
train_dataloader = dict(dataset={{_base_.clip_train_dataset}})
val_dataloader = dict(dataset={{_base_.clip_val_dataset}})
test_dataloader = val_dataloader
load_from_run = 'ESAM_sv_bifusion_scannet200'
