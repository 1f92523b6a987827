# ESAM online multi-view BiFusion: the online 3D+Tiny-SA model whose backbone becomes the
# BiFusionEncoder of ESAM_sv_bifusion_scannet200.py; every frame of a sample projects into its
# own stored CLIP map (create_data.py scannet200_mv --pack-clip, then extract_2d_features.py).
# Half the batch of the 3D online model (2 x 8 frames), the memory keeps all history
# (queue=-1; a positive queue keeps the voxels seen in the last N frames). Weights: the
# BiFusion SV checkpoint (load_from: 2D branch, gate, decoder), then the 3D parts trained
# on sequences — U-Net, memory, merge head — from the 3D+Tiny-SA MV checkpoint
# (PartialLoadHook, after load_from). Recipe: lr 5e-4, 2000 warm-up iterations, 160 epochs.
_base_ = ['./ESAM_online_3dtsa_scannet200.py']
img_channels = 192
model = dict(
    backbone=None,
    bi_encoder=dict(type='BiFusionEncoder', backbone3d={{_base_.model.backbone}},
                    img_channels=img_channels, img_stride=None, reduce_channels=256,
                    out_channels=128, gate=dict(type='LiteFusionGate'),
                    geo_pe=dict(type='GeoPE', num_freqs=6, scale=4.0), use_amp=True),
    memory=dict(queue=-1),
    # GeoAwarePooling's width follows the encoder's output (128), not the U-Net's 96
    pool=dict(channel_proj=None),
    # cross-view consistency of the 2D-branch features (off: weight 0)
    clip_cons=dict(type='ClipConsCriterion', loss_weight=0.0, temperature=0.07,
                   mode='infonce'))
train_dataloader = dict(batch_size=2, dataset=dict(
    ann_file='scannet200_mv_oneformer3d_infos_train_clip.pkl',
    pipeline={{_base_.clip_train_pipeline}}))
val_dataloader = dict(dataset=dict(ann_file='scannet200_mv_oneformer3d_infos_val_clip.pkl',
                                   pipeline={{_base_.clip_test_pipeline}}))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=2000),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=160, eta_min=1e-6)]
train_cfg = dict(max_epochs=160)
load_from = 'work_dirs/ESAM_sv_bifusion_scannet200/epoch_160.pth'
custom_hooks = [
    dict(type='SafeCheckpointHook'), dict(type='MetricRunInfoHook'),
    dict(type='DataFallbackHook'),
    dict(type='PartialLoadHook',
         checkpoint='work_dirs/ESAM_online_3dtsa_scannet200/epoch_128.pth',
         prefix_map={'backbone.': 'bi_encoder.backbone3d.', 'memory.': 'memory.',
                     'merge_head.': 'merge_head.'}, on_mismatch='error',
         max_missing_fraction=0.0)]
