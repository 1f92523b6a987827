# ESAM single-view + Tiny-SA: the 3D baseline with two layers of local self-attention on the
# stride-1 voxel features (TinySAModule: 16 nearest voxels within 2 voxels, 4 heads; its
# output projections start at zero, so it starts as the 3D model). The fusion recipe's
# schedule: AdamW lr 6e-4, weight decay 1e-2, 1000 warm-up iterations, cosine over 128 epochs,
# mixed precision (bf16 on CPU, fp16 + loss scaling on GPU). The 3D config keeps ESAM's
# upstream schedule (AdamW 1e-4, PolyLR); compare routes trained on the same schedule.
_base_ = ['./ESAM_sv_3d_scannet200.py']
model = dict(neck=dict(type='TinySAModule', num_layers=2, num_heads=4, radius=2.0,
                       max_neighbors=16))
optim_wrapper = dict(
    type='MixedPrecisionOptimWrapper', optimizer=dict(lr=6e-4, weight_decay=1e-2),
    # no weight decay on the Tiny-SA relative-position MLP; the key names the neck's
    # module exactly, so the decoder's own pos_embed keeps the default decay
    paramwise_cfg=dict(custom_keys={'neck.pos_embed': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=128, eta_min=1e-6)]
