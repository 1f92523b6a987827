# The fusion ablation's one recipe (the seed plan's table; tools/ablation.py): AdamW lr 6e-4,
# weight decay 1e-2 (none on the Tiny-SA relative-position MLP; the key names the neck's
# module, so it matches nothing in a model without the neck and the decoder's own pos_embed
# keeps the decay), gradient clipping at norm 10 (ESAM's), linear warm-up over 1000
# iterations then cosine to 1e-6 over 128 epochs, mixed precision (bf16 autocast on CPU, fp16
# with loss scaling on GPU). "Trained as long" (BiFusion's schedule and its control): lr 5e-4,
# 2000 warm-up iterations, 160 epochs. The DINO routes' fine-tuning (their 3D control and
# every DINO row): lr 5e-5, the same warm-up, cosine over 64 epochs.
# The names carry a recipe_ prefix so this file can be a second base beside a reproduction
# config that has its own optim_wrapper (a key in two bases is an error); the chain's roots
# (configs/esam/ESAM_{sv,online}_3d_scannet200.py) assign them.
recipe_optim_wrapper = dict(
    type='MixedPrecisionOptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-4, weight_decay=1e-2),
    clip_grad=dict(max_norm=10, norm_type=2),
    paramwise_cfg=dict(custom_keys={'neck.pos_embed': dict(decay_mult=0.0)}))
recipe_param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=128, eta_min=1e-6)]
recipe_long_lr = 5e-4
recipe_long_epochs = 160
recipe_long_param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=2000),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=recipe_long_epochs,
         eta_min=1e-6)]
recipe_ft_lr = 5e-5
recipe_ft_epochs = 64
recipe_ft_param_scheduler = [recipe_param_scheduler[0],
                             dict(recipe_param_scheduler[1], end=recipe_ft_epochs)]
