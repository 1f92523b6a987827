# The OneFormer3D model: Res16UNet34C -> superpoint pooling -> query decoder. Class-agnostic
# here (num_instance_classes=1; the class-aware configs set their class count): ESAM's
# single-view ScanNet200 CA model (xuxw98/ESAM configs/ESAM_CA/ESAM_sv_1xb4_scannet200_CA.py),
# which is OneFormer3D's (filaPro/oneformer3d configs/oneformer3d_1xb4_scannet200.py) with 3
# decoder layers and topk_insts 100. Values equal upstream unless a comment says why not.
model = dict(
    type='OneFormer3D',
    num_instance_classes=1,
    data_preprocessor=dict(type='Det3DDataPreprocessor', voxel_size=0.02),
    # colours only (in_channels 3); the output is the last decoder block (96 channels), as in
    # Mask3D / OneFormer3D / ESAM. The decoder's in_channels is derived from it.
    backbone=dict(type='Res16UNet34C', in_channels=3, conv1_kernel_size=5, bn_momentum=0.02),
    # queries: a random 50-100 % of the superpoints in training (upstream query_thr 0.5)
    decoder=dict(type='QueryDecoder', d_model=256, num_layers=3, num_heads=8,
                 ffn_dim=1024, dropout=0.0, query_ratio=0.5, attn_mask=True),
    # upstream InstanceCriterion(fix_dice_loss_weight=True, iter_matcher=True,
    # fix_mean_loss=True) with SparseMatcher(topk=1): a GT instance is matched to the cheapest
    # query seeded inside it (HungarianMatcher stays available for configs that choose it)
    criterion=dict(
        type='InstanceCriterion', loss_weight=(0.5, 1.0, 1.0, 0.5), non_object_weight=0.1,
        iter_matcher=True, fix_dice_loss_weight=True, fix_mean_loss=True,
        matcher=dict(type='SparseMatcher', topk=1, costs=[
            dict(type='QueryClassificationCost', weight=0.5),
            dict(type='MaskBCECost', weight=1.0),
            dict(type='MaskDiceCost', weight=1.0)])),
    test_cfg=dict(topk_insts=100, score_thr=0.0, npoint_thr=100, sp_score_thr=0.4,
                  obj_normalization=True, nms=True, matrix_nms_kernel='linear'))
