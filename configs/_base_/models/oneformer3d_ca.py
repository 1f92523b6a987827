# Res16UNet34C -> superpoint pooling -> query decoder, class-agnostic (ESAM ScanNet200 CA).
model = dict(
    type='OneFormer3D',
    num_instance_classes=1,
    data_preprocessor=dict(type='Det3DDataPreprocessor', voxel_size=0.02),
    backbone=dict(type='Res16UNet34C', in_channels=3, out_channels=32, conv1_kernel_size=5,
                  bn_momentum=0.02),
    decoder=dict(type='QueryDecoder', in_channels=32, d_model=256, num_layers=3, num_heads=8,
                 ffn_dim=1024, dropout=0.0, query_ratio=0.5, attn_mask=True),
    criterion=dict(
        type='InstanceCriterion', loss_weight=(0.5, 1.0, 1.0, 0.5), non_object_weight=0.1,
        iter_matcher=True,
        matcher=dict(type='HungarianMatcher', costs=[
            dict(type='QueryClassificationCost', weight=0.5),
            dict(type='MaskBCECost', weight=1.0),
            dict(type='MaskDiceCost', weight=1.0)])),
    test_cfg=dict(topk_insts=100, score_thr=0.0, npoint_thr=100, sp_score_thr=0.5,
                  obj_normalization=True))
