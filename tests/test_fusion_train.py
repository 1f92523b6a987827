"""Training the fusion models: the AMP skip path on an injected inf gradient, and bf16 CPU
training of BiFusion + Tiny-SA with PartialLoadHook that resumes exactly (real frames)."""
import os.path as osp

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from oneformer3d.registry import MODELS
from tests.conftest import REPO, run_script
from tests.helpers.builders import LIGHT, batch_of, sample_cfg

init_default_scope('oneformer3d')


def test_amp_skips_a_step_with_an_inf_gradient(sv_root):
    """fp16 + loss scaling (GradScaler on CPU) on the BiFusion model: an inf written into one
    gradient after backward skips the step — every weight unchanged, ``skipped_steps`` + 1,
    the loss scale halved; later clean steps update the weights."""
    cfg = sample_cfg('bifusion', **LIGHT)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, dict(cfg.optim_wrapper,
                                              type='MixedPrecisionOptimWrapper',
                                              dtype='float16', device_type='cpu',
                                              init_scale=2.0 ** 8))
    assert wrapper.scaler is not None
    batch = batch_of(cfg, sv_root, model, (0,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scale = wrapper.scaler.get_scale()

    def backward():
        with wrapper.optim_context(model):
            losses = model(**batch, mode='loss')
        wrapper.backward(sum(v for k, v in losses.items() if k.startswith('loss')))

    backward()
    model.bi_encoder.proj2d.weight.grad[0, 0] = float('inf')
    wrapper.step()
    wrapper.zero_grad()
    after = model.state_dict()
    params = {n for n, _ in model.named_parameters()}
    assert all(torch.equal(after[k], before[k]) for k in params)
    assert wrapper.skipped_steps == 1
    assert wrapper.scaler.get_scale() == scale * 0.5
    # clean steps: fp16 activations may still overflow at GradScaler's initial 2^16 scale
    # (skipped and halved again, as loss scaling is meant to); within a few the step is taken
    for _ in range(10):
        skipped, scale = wrapper.skipped_steps, wrapper.scaler.get_scale()
        backward()
        wrapper.step()
        wrapper.zero_grad()
        if wrapper.skipped_steps == skipped:
            break
        assert wrapper.scaler.get_scale() == scale * 0.5
    assert wrapper.skipped_steps == skipped
    assert any(not torch.equal(model.state_dict()[k], before[k]) for k in params)


@pytest.mark.slow
def test_bf16_bifusion_training_resumes_exactly(sv_root, tmp_path):
    """``tools/train.py --amp`` (bf16 on CPU) on the BiFusion + Tiny-SA SV sample config, its
    ``load_from`` a 3D+Tiny-SA checkpoint saved here (the U-Net into
    ``bi_encoder.backbone3d`` by ``load_policy``'s ``prefix_map``): 2 iterations in one go
    equal 1 iteration + ``--resume`` + 1 (one thread, bit for bit); the parent loads before
    the first run's training and not on resume."""
    torch.manual_seed(1)
    src = MODELS.build(sample_cfg('3dtsa', **LIGHT).model)
    ckpt = str(tmp_path / 'tsa.pth')
    torch.save(dict(state_dict=src.state_dict()), ckpt)
    config = osp.join(REPO, 'configs', 'esam', 'ESAM_sv_bifusion_scannet_sample.py')

    def train(work_dir, iters, *extra):
        opts = [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters + 1}',
                'param_scheduler.1.end=2', 'default_hooks.checkpoint.interval=1',
                'default_hooks.checkpoint.max_keep_ckpts=5',
                'model.bi_encoder.backbone3d.layers=[1,1,1,1,1,1,1,1]',
                'model.decoder.max_queries=100',        # resume equality needs no more
                f'load_from={ckpt}', 'train_dataloader.num_workers=0',
                'train_dataloader.persistent_workers=False']
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            opts.append(f'{loader}.dataset.data_root={sv_root}/')
        res = run_script([osp.join(REPO, 'tools', 'train.py'), config, '--amp', '--work-dir',
                          str(work_dir), '--seed', '0', '--deterministic', *extra,
                          '--cfg-options', *opts], threads=1)
        return res.stdout + res.stderr

    log_full = train(tmp_path / 'full', 2)
    log_a = train(tmp_path / 'part', 1)
    log_b = train(tmp_path / 'part', 2, '--resume')
    assert 'MixedPrecisionOptimWrapper' in log_full
    for log in (log_full, log_a):    # every tensor of the parent loads; the 2D branch is new
        assert f'{ckpt}: loaded {len(src.state_dict())} tensors' in log, log[-3000:]
        assert 'unexpected 0, shape-mismatched 0' in log
    assert f'{ckpt}: loaded' not in log_b
    a = torch.load(tmp_path / 'full' / 'iter_2.pth', map_location='cpu', weights_only=True)
    b = torch.load(tmp_path / 'part' / 'iter_2.pth', map_location='cpu', weights_only=True)
    for k in a['state_dict']:
        assert torch.equal(a['state_dict'][k], b['state_dict'][k]), k
    unet = src.state_dict()
    start = torch.load(tmp_path / 'full' / 'iter_1.pth', map_location='cpu',
                       weights_only=True)['state_dict']
    # the U-Net started from the checkpoint: after one small step it is close to it
    k = 'bi_encoder.backbone3d.conv0p1s1.kernel'
    assert (start[k] - unet['backbone.conv0p1s1.kernel']).abs().max() < 0.01


def test_partial_load_hook_unwraps_ddp(tmp_path):
    """Under DDP (a one-process gloo group) the hook loads into ``runner.model.module``."""
    import torch.distributed as dist
    from mmengine.model import MMDistributedDataParallel
    from oneformer3d.engine import PartialLoadHook
    torch.manual_seed(1)
    src = MODELS.build(sample_cfg('3dtsa', **LIGHT).model)
    ckpt = str(tmp_path / 'tsa.pth')
    torch.save(dict(state_dict=src.state_dict()), ckpt)
    dst = MODELS.build(sample_cfg('bifusion', **LIGHT).model)
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/pg', rank=0, world_size=1)
    try:
        wrapped = MMDistributedDataParallel(dst)
        report = PartialLoadHook(ckpt, prefix_map={'backbone.': 'bi_encoder.backbone3d.'}
                                 ).load(wrapped)
    finally:
        dist.destroy_process_group()
    assert report.loaded and all(k.startswith('bi_encoder.backbone3d.') for k in report.loaded)
    k = 'bi_encoder.backbone3d.block1.0.conv1.kernel'
    assert torch.equal(dst.state_dict()[k], src.state_dict()['backbone.block1.0.conv1.kernel'])
