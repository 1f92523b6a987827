# The fusion recipe (./fusion_recipe.py) scaled to the CPU sample's iterations (a second base
# of the sample roots configs/esam/ESAM_{sv,online}_3d_scannet_sample.py; every sample row of
# tools/ablation.py inherits it): the same optimiser, lr and weight decay, linear warm-up then
# cosine to 1e-6. SV 150 iterations (warm-up 10), MV 60 (warm-up 10); "trained as long" x160/128
# and warm-up x2 as at full scale: SV 188 (20), MV 75 (20); the DINO fine-tuning 60 (10) at
# lr 5e-4 (60 iterations at the full scale's 5e-5 hardly move a 150-iteration fit). fp32:
# bf16 autocast on a CPU without bf16 units is slower than fp32, and the sample compares
# routes, not precisions.
sample_sv_iters = 150
sample_mv_iters = 60
sample_long_sv_iters = 188
sample_long_mv_iters = 75
sample_sv_param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=10),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=sample_sv_iters, eta_min=1e-6)]
sample_mv_param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=10),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=sample_mv_iters, eta_min=1e-6)]
sample_long_sv_param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=sample_long_sv_iters,
         eta_min=1e-6)]
sample_long_mv_param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=sample_long_mv_iters,
         eta_min=1e-6)]
sample_ft_iters = 60
sample_ft_lr = 5e-4
sample_ft_param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=10),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=sample_ft_iters, eta_min=1e-6)]
sample_optim_wrapper = dict(type='OptimWrapper')
sample_log_processor = dict(by_epoch=False)
