# The BiFusion encoder of the fusion ablation (a second base of the BiFusion route configs;
# its name does not collide with a model key): the 3D parent's Res16UNet34C as backbone3d
# (the config fills it in) plus a 2D branch on the frame's stored map (CLIP ViT-B/16 after
# PixelShuffle x2: 192 channels -> conv_reduce 256 -> per-point bilinear sample -> Linear),
# a per-voxel ResidualFusionGate and a zero-initialised Geo-PE. Identity start
# (identity_init): proj3d is the identity on the U-Net's 96 channels and out_channels stays
# 96, so the parent's neck, pooling and decoder load unchanged; proj2d starts at zero, so
# the encoder returns the U-Net's features exactly until the first step.
# img_stride (image pixels per feature cell of your store, e.g. 8 for 640x480 frames) makes
# the encoder check every map's recorded stride; None checks channels only.
bifusion_encoder = dict(
    type='BiFusionEncoder', img_channels=192, img_stride=None, reduce_channels=256,
    out_channels=96, gate=dict(type='ResidualFusionGate'),
    geo_pe=dict(type='GeoPE', num_freqs=6, scale=4.0), use_amp=True, identity_init=True)
