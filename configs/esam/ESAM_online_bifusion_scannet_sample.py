# Online BiFusion on the sample sequence (CPU schedule of the online 3D sample) with the
# weight-free RGB-patch store of ESAM_sv_bifusion_scannet_sample.py. Prepare:
#   python tools/create_data.py scannet_mv --root-path ../shared/data/scannet \
#       --out-dir data/scannet_sample_mv --pack-clip
#   python tools/extract_2d_features.py \
#       --infos data/scannet_sample_mv/scannet_mv_oneformer3d_infos_train_clip.pkl \
#       --encoder RGBPatchEncoder
# Weights: the BiFusion SV sample checkpoint (load_from), then U-Net, memory and merge head
# of the 3D+Tiny-SA online sample checkpoint (PartialLoadHook).
_base_ = ['./ESAM_online_3dtsa_scannet_sample.py']
img_channels = 3
model = dict(
    backbone=None,
    bi_encoder=dict(type='BiFusionEncoder', backbone3d={{_base_.model.backbone}},
                    img_channels=img_channels, img_stride=16.2, reduce_channels=256,
                    out_channels=128, gate=dict(type='LiteFusionGate'),
                    geo_pe=dict(type='GeoPE', num_freqs=6, scale=4.0)),
    # GeoAwarePooling's width follows the encoder's output (128), not the U-Net's 96
    pool=dict(channel_proj=None),
    # cross-view consistency of the 2D-branch features (off: weight 0)
    clip_cons=dict(type='ClipConsCriterion', loss_weight=0.0, temperature=0.07,
                   mode='infonce'))
train_dataloader = dict(dataset=dict(ann_file='scannet_mv_oneformer3d_infos_train_clip.pkl',
                                     pipeline={{_base_.clip_train_pipeline}}))
val_dataloader = dict(dataset=dict(ann_file='scannet_mv_oneformer3d_infos_val_clip.pkl',
                                   pipeline={{_base_.clip_test_pipeline}}))
test_dataloader = val_dataloader
load_from = 'work_dirs/ESAM_sv_bifusion_scannet_sample/iter_150.pth'
custom_hooks = [
    dict(type='SafeCheckpointHook'), dict(type='MetricRunInfoHook'),
    dict(type='DataFallbackHook'),
    dict(type='PartialLoadHook',
         checkpoint='work_dirs/ESAM_online_3dtsa_scannet_sample/iter_60.pth',
         prefix_map={'backbone.': 'bi_encoder.backbone3d.', 'memory.': 'memory.',
                     'merge_head.': 'merge_head.'}, on_mismatch='error',
         max_missing_fraction=0.0)]
