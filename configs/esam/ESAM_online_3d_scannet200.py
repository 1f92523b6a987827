# The fusion ablation's 3D online row (class-agnostic ScanNet200, create_data.py
# scannet200_mv): ESAM's online reproduction model, pipeline and loop
# (ESAM_online_scannet200_CA.py: memory, box branch, merge head and criterion, 8-frame clips,
# merging with boxes) from the chain's SV row, on the ablation's one recipe
# (../_base_/schedules/fusion_recipe.py, as ESAM_sv_3d_scannet200.py). The online rows of the
# chain (Tiny-SA, BiFusion) inherit this file. The memory's conversion convolution starts at
# zero, so the row starts exactly as its SV parent predicts (tools/ablation.py --check-init).
_base_ = ['./ESAM_online_scannet200_CA.py', '../_base_/schedules/fusion_recipe.py']
optim_wrapper = dict(_base_.recipe_optim_wrapper, _delete_=True)
param_scheduler = _base_.recipe_param_scheduler
# the fusion routes' datasets (create_data.py scannet200_mv --pack-clip)
clip_train_dataset = dict(ann_file='scannet200_mv_oneformer3d_infos_train_clip.pkl',
                          pipeline=_base_.clip_train_pipeline)
clip_val_dataset = dict(ann_file='scannet200_mv_oneformer3d_infos_val_clip.pkl',
                        pipeline=_base_.clip_test_pipeline)
# the chain's SV row (tools/train.py configs/esam/ESAM_sv_3d_scannet200.py)
load_from_run = 'ESAM_sv_3d_scannet200'
