# ESAM single-view BiFusion: the 3D+Tiny-SA model whose U-Net becomes the backbone3d of a
# BiFusionEncoder (../_base_/models/bifusion_encoder.py: 2D branch on the frame's stored CLIP
# map, residual fusion gate, Geo-PE), started from the 3D+Tiny-SA SV checkpoint (its
# control's load_from_run) with the encoder's identity start — it predicts exactly what that
# checkpoint predicts before the first step (tools/ablation.py --check-init) — on its
# control's schedule (ESAM_sv_3dtsa_long_scannet200.py: lr 5e-4, 2000 warm-up iterations,
# 160 epochs). Infos with feature paths: create_data.py scannet200_sv --pack-clip, then
# tools/extract_2d_features.py (see the dataset base).
_base_ = ['./ESAM_sv_3dtsa_long_scannet200.py', '../_base_/models/bifusion_encoder.py']
model = dict(
    backbone=None,
    bi_encoder=dict(_base_.bifusion_encoder, backbone3d=_base_.model.backbone))
# load_from's U-Net goes where this model keeps it; everything else loads under its own name
load_policy = dict(prefix_map={'backbone.': 'bi_encoder.backbone3d.'})
train_dataloader = dict(dataset={{_base_.clip_train_dataset}})
val_dataloader = dict(dataset={{_base_.clip_val_dataset}})
test_dataloader = val_dataloader
