# ESAM single-view, class-agnostic, ScanNet200: the reproduction of xuxw98/ESAM
# configs/ESAM_CA/ESAM_sv_1xb4_scannet200_CA.py (commit 86759483), line by line. Values equal
# upstream's; a comment says where and why not. Data: create_data.py scannet200_sv.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/schedules/poly_adamw_128e.py',
    '../_base_/datasets/scannet200_sv.py', '../_base_/models/oneformer3d.py'
]
num_semantic_classes = 200
model = dict(
    num_instance_classes=1,
    data_preprocessor=dict(voxel_size=0.02),
    # upstream: load_from = 'work_dirs/tmp/mask3d_scannet200.pth' (Mask3D's ScanNet200
    # checkpoint from OneFormer3D's v1.0 release; a non-strict whole-model load of which only
    # the backbone matches). Ours loads the same file into the backbone, strictly: a missing or
    # mismatched file stops the run instead of training from scratch. Get the file as
    # docs/reproduction.md says; without it: --cfg-options model.backbone.pretrained=None.
    backbone=dict(pretrained='work_dirs/tmp/mask3d_scannet200.pth'),
    pool=dict(type='GeoAwarePooling', channel_proj=96),
    decoder=dict(
        type='MixQueryDecoder', num_layers=3,
        cross_attn_mode=['', 'SP', 'SP', 'SP'], mask_pred_mode=['SP', 'SP', 'P', 'P'],
        share_attn_mlp=False, share_mask_mlp=False,
        num_semantic_classes=num_semantic_classes,   # num_semantic_linears=1
        d_model=256, num_heads=8, ffn_dim=1024, dropout=0.0, activation_fn='gelu',
        attn_mask=True, fix_attention=True, objectness_flag=False),
    # ScanNetMixedCriterion = semantic criterion (0.5, on the queries' seed superpoints) +
    # MixedInstanceCriterion; the fifth weight is the box loss, zero without a box head
    # (bbox_flag is False in upstream's SV config)
    criterion=dict(loss_weight=(0.5, 1.0, 1.0, 0.5, 0.5)),
    sem_criterion=dict(type='SemanticCriterion', ignore_index=num_semantic_classes,
                       loss_weight=0.5),
    # upstream inst_score_thr 0.0 (pan_score_thr / stuff_classes: its panoptic output, which
    # its class-agnostic metric does not read)
    test_cfg=dict(topk_insts=100, score_thr=0.0, npoint_thr=100, sp_score_thr=0.4,
                  obj_normalization=True, nms=True, matrix_nms_kernel='linear'))
# upstream: EmptyCacheHook after every iteration (a CUDA allocator setting, no effect on
# results); checkpoint every epoch, keep 1, save the best 'all_ap_50%' of its class-agnostic
# metric (our class-agnostic metric's name: ca_ap50)
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=1, save_best='ca_ap50',
                                     rule='greater'))
train_cfg = dict(max_epochs=128, val_interval=128)
