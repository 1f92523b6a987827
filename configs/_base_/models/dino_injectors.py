# The DINO routes' injectors (a second base of the DINO route configs; the names do not
# collide with a model key), on the DINOv2 ViT-L/14 store (1024 channels): the DITR-style
# pyramid added to each decoder stage through zero-initialised, bias-free 1x1 projections
# (inject_at='skip' adds to the skip tensor, DITR's choice), and DINO-early's reduction to 32
# channels concatenated to the colours at the U-Net's input.
dino_fpn_injector = dict(type='DINOFPNInjector', in_channels=1024, inject_at='upsampled',
                         pool='max', strides=[8, 4, 2, 1])
dino_early_channels = 32
dino_early_injector = dict(type='DINOEarlyInjector', in_channels=1024,
                           out_channels=dino_early_channels, pool='max')
