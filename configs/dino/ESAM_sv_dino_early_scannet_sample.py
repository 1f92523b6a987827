# DINO-early on the SV sample: the DINO-FPN sample's data and schedule (RGB-patch store
# standing in for DINOv2), the store's per-voxel features reduced to 8 channels and
# concatenated to the colours at the U-Net's input; the stem's 8 new input channels start at
# zero (identity start from the 3D SV sample checkpoint).
_base_ = ['./ESAM_sv_dino_fpn_inject_scannet_sample.py']
early_channels = 8
model = dict(backbone=dict(in_channels=3 + early_channels),
             injector=dict(_delete_=True, type='DINOEarlyInjector', in_channels=3,
                           out_channels=early_channels, pool='max'))
load_policy = dict(zero_pad_keys=['backbone.conv0p1s1.kernel'])
