# Online BiFusion on ScanNet-20 sequences (create_data.py scannet_mv --pack-clip, then
# extract_2d_features.py): its control plus the BiFusion encoder, from the ScanNet-20
# BiFusion SV checkpoint whole (as ESAM_online_bifusion_scannet200.py).
_base_ = ['./ESAM_online_3dtsa_long_scannet.py', '../_base_/models/bifusion_encoder.py']
model = dict(
    backbone=None,
    bi_encoder=dict(_base_.bifusion_encoder, backbone3d=_base_.model.backbone),
    clip_cons=dict(type='ClipConsCriterion', loss_weight=0.0, temperature=0.07,
                   mode='infonce'))
train_dataloader = dict(dataset={{_base_.clip_train_dataset}})
val_dataloader = dict(dataset={{_base_.clip_val_dataset}})
test_dataloader = val_dataloader
load_from_run = 'ESAM_sv_bifusion_scannet'
