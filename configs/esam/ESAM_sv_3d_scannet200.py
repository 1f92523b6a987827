# The fusion ablation's 3D SV row (class-agnostic ScanNet200, create_data.py scannet200_sv):
# ESAM's SV reproduction model, pipeline and loop (ESAM_sv_1xb4_scannet200_CA.py) on the
# ablation's one recipe (../_base_/schedules/fusion_recipe.py: AdamW 6e-4, weight decay
# 1e-2, 1000 warm-up iterations + cosine over 128 epochs, mixed precision) instead of ESAM's
# (AdamW 1e-4, weight decay 0.05, PolyLR, fp32), which stays in the reproduction config.
# Every SV row of tools/ablation.py inherits this file; a row differs from its control only
# in what the route table declares (tests/test_ablation.py checks it).
_base_ = ['./ESAM_sv_1xb4_scannet200_CA.py', '../_base_/schedules/fusion_recipe.py']
optim_wrapper = dict(_base_.recipe_optim_wrapper, _delete_=True)
param_scheduler = _base_.recipe_param_scheduler
