# Route 2: distil a set-level point-cloud embedding (teacher = pooled pc_feat of K_t points)
# into an RGB-only student (K tokens per frame and encoder -> adapter -> mean -> temporal
# gated pooling over the window -> weighted fusion), symmetric CLIP InfoNCE with a learnable
# logit_scale. Windows of T=8 frames; the held-out steps are scored one step at a time.
_base_ = ['./align_point_patch_rlbench.py']
mode = 'distill'
model = dict(
    task=mode, temporal_pooling=dict(type='TemporalGatedPooling'),
    criterion=dict(_delete_=True, type='ClipInfoNCE', init_temperature=0.07, queue_size=0,
                   dim=256, mse_weight=0.0))
train_dataloader = dict(batch_size=16, dataset=dict(
    mode=mode, sample_unit='window', window=8, window_stride=1, anchor_in_window='random'))
val_dataloader = dict(dataset=dict(mode=mode))
test_dataloader = val_dataloader
