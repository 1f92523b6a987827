"""End-to-end check of the CUDA path on a real single-view frame (run it on a GPU machine).

    python benchmarks/bench_gpu.py [--device cuda] [--iters 10] [--points 20000]

1. build check: MinkowskiEngine imports, was built with CUDA, and a sparse conv runs on the
   device;
2. ME row order: a ``SparseTensor`` made from unique coordinates keeps the input row order on
   the device (the detector relies on it for the stride-1 output);
3. one SV training step (Res16UNet34C + 3-layer decoder, the ESAM SV model, class-agnostic,
   voxel 0.02 m) in fp32 and with mixed precision (fp16 autocast + loss scaling on CUDA, bf16
   on CPU; the sparse convs stay fp32), timed over ``--iters`` steps after warm-up;
4. inference ms/frame at ``--points`` points; peak device memory.

The frame is scene0000_00's first posed frame with depth rendered from the scan
(``create_data.py scannet_sv``), from the shared data (``ONEFORMER3D_DATA``). The last line is
``sv_infer_ms=<x> amp_train_step_ms=<y> fp32_train_step_ms=<z> peak_mem_gb=<m>``. Random
weights (the cost does not depend on them). ``--device cpu`` runs the same steps on the CPU
(a dry run of the script; bf16 autocast).
"""
import argparse
import os
import os.path as osp
import sys
import tempfile
import time

import torch

import oneformer3d  # noqa: F401  (compat fixes first)
import MinkowskiEngine as ME
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from oneformer3d.datasets.preprocessing.scannet_frames import create_scannet_sv_infos
from oneformer3d.engine import MixedPrecisionOptimWrapper
from oneformer3d.metainfo import SCANNET20
from oneformer3d.registry import DATASETS, MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = os.environ.get('ONEFORMER3D_DATA', osp.join(REPO, '..', 'shared', 'data'))
CONFIG = osp.join(REPO, 'configs/esam/ESAM_sv_3d_scannet.py')


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def build_check(device) -> None:
    built_cuda = getattr(ME, 'is_cuda_available', lambda: False)()
    print(f'MinkowskiEngine {ME.__version__}: built with CUDA {built_cuda}; torch '
          f'{torch.__version__} CUDA {torch.version.cuda}; device {device}')
    if device.type == 'cuda' and not built_cuda:
        raise SystemExit('MinkowskiEngine was built without CUDA: rebuild with '
                         'ONEFORMER3D_CUDA=1 bash tools/setup_env.sh (docs/get_started.md, GPU)')
    coords = torch.unique(torch.randint(0, 50, (5000, 3)), dim=0)
    coords = torch.cat([torch.zeros(len(coords), 1, dtype=torch.long), coords], 1).int()
    perm = torch.randperm(len(coords))
    coords = coords[perm].to(device)
    feats = torch.arange(len(coords), dtype=torch.float32, device=device)[:, None].repeat(1, 3)
    x = ME.SparseTensor(feats, coordinates=coords)
    same = bool(torch.equal(x.C.to(device), coords) and torch.equal(x.F, feats))
    conv = ME.MinkowskiConvolution(3, 8, kernel_size=3, dimension=3).to(device)
    y = conv(x)
    sync(device)
    print(f'ME row order equals the input order on {device}: {same}; conv out '
          f'{tuple(y.F.shape)} {y.F.dtype}')
    if not same:
        raise SystemExit('ME reordered unique coordinates: the stride-1 output mapping in '
                         'OneFormer3D.extract_feat would be wrong on this device')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default='cuda')
    p.add_argument('--iters', type=int, default=10)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--points', type=int, default=20000)
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('no CUDA device visible (nvidia-smi?); --device cpu runs a dry run')
    init_default_scope('oneformer3d')
    build_check(device)
    out = tempfile.mkdtemp(prefix='bench_gpu_')
    create_scannet_sv_infos(osp.join(DATA, 'scannet'), out, SCANNET20, 'scannet_sv',
                            max_points=args.points)
    cfg = Config.fromfile(CONFIG)
    ds_cfg = cfg.val_dataloader.dataset
    ds_cfg.update(data_root=out, ann_file='scannet_sv_oneformer3d_infos_train.pkl')
    batch = pseudo_collate([DATASETS.build(ds_cfg)[0]])
    n = len(batch['inputs']['points'][0])
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device)
    results = {}
    for name, amp in (('fp32', False), ('amp', True)):
        wrapper = MixedPrecisionOptimWrapper(
            optimizer=torch.optim.AdamW(model.parameters(), lr=1e-4),
            device_type=device.type) if amp else None
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4) if not amp else None
        model.train()
        times = []
        for i in range(args.warmup + args.iters):
            sync(device)
            t0 = time.perf_counter()
            data = model.data_preprocessor(batch, True)
            if amp:
                with wrapper.optim_context(model):
                    losses = model.loss(data['inputs'], data['data_samples'])
                wrapper.update_params(sum(losses.values()))
            else:
                loss = sum(model.loss(data['inputs'], data['data_samples']).values())
                opt.zero_grad()
                loss.backward()
                opt.step()
            sync(device)
            if i >= args.warmup:
                times.append(time.perf_counter() - t0)
        results[f'{name}_train_step_ms'] = 1e3 * sum(times) / len(times)
        if amp:
            print(f'amp: {wrapper.dtype}, skipped steps {wrapper.skipped_steps}')
    model.eval()
    times = []
    with torch.no_grad():
        for i in range(args.warmup + args.iters):
            sync(device)
            t0 = time.perf_counter()
            data = model.data_preprocessor(batch, False)
            model.predict(data['inputs'], data['data_samples'])
            sync(device)
            if i >= args.warmup:
                times.append(time.perf_counter() - t0)
    results['sv_infer_ms'] = 1e3 * sum(times) / len(times)
    peak = torch.cuda.max_memory_allocated(device) / 1024 ** 3 if device.type == 'cuda' else 0.0
    print(f'{n} points/frame, voxel {cfg.model.data_preprocessor.voxel_size} m, '
          f'{args.iters} timed steps, device {device}'
          + ('' if device.type == 'cuda' else f', {torch.get_num_threads()} threads'))
    print(f'sv_infer_ms={results["sv_infer_ms"]:.1f} '
          f'amp_train_step_ms={results["amp_train_step_ms"]:.1f} '
          f'fp32_train_step_ms={results["fp32_train_step_ms"]:.1f} peak_mem_gb={peak:.2f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
