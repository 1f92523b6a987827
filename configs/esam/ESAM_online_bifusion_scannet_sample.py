# Online BiFusion on the sample sequence: its control (ESAM_online_3dtsa_long_scannet_sample.py)
# plus the BiFusion encoder with the weight-free RGB-patch store of
# ESAM_sv_bifusion_scannet_sample.py, from the BiFusion SV sample checkpoint whole. Prepare:
#   python tools/create_data.py scannet_mv --root-path ../shared/data/scannet \
#       --posed-dir ../shared/data/scannet/posed_rgbd --out-dir data/scannet_sample_mv \
#       --workers 2 --pack-clip
#   python tools/extract_2d_features.py \
#       --infos data/scannet_sample_mv/scannet_mv_oneformer3d_infos_train_clip.pkl \
#       --encoder RGBPatchEncoder
_base_ = ['./ESAM_online_3dtsa_long_scannet_sample.py', '../_base_/models/bifusion_encoder.py']
model = dict(
    backbone=None,
    bi_encoder=dict(_base_.bifusion_encoder, backbone3d=_base_.model.backbone,
                    img_channels=3, img_stride=16.2, use_amp=False),
    # cross-view consistency of the 2D-branch features (off: weight 0)
    clip_cons=dict(type='ClipConsCriterion', loss_weight=0.0, temperature=0.07,
                   mode='infonce'))
train_dataloader = dict(dataset={{_base_.clip_train_dataset}})
val_dataloader = dict(dataset={{_base_.clip_val_dataset}})
test_dataloader = val_dataloader
load_from_run = 'ESAM_sv_bifusion_scannet_sample'
