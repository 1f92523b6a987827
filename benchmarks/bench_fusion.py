"""Cost of the fusion routes, side by side in one run, on the real single-view frames.

    python benchmarks/bench_fusion.py [--iters 5] [--warmup 1] [--voxel-size 0.02]
                                      [--system-malloc]

One training step (loss, backward, AdamW) of each model on the same real scene0000_00 frame
(20,000 points, rendered depth; the same random augmentation for every variant within an
iteration), the variants interleaved iteration by iteration (in an order that rotates each
iteration) so machine noise falls on all of them alike; the figures are medians over the
timed steps:

* ``3d``: ``ESAM_sv_3d_scannet.py`` (Res16UNet34C + 3-layer query decoder);
* ``3dtsa``: ``ESAM_sv_3dtsa_scannet.py`` (+ the Tiny-SA neck);
* ``bifusion``: ``ESAM_sv_bifusion_scannet.py`` with a stored 192-channel map of the frame's
  feature grid (60 x 80 for the 480-pixel network input; its values are random — the cost
  depends on shapes only);
* ``dino_inject``: ``ESAM_sv_dino_fpn_inject_scannet200.py`` (the 3D model + the DINO
  pyramid injected into the decoder) with a stored 1024-channel map of DINOv2 ViT-L/14's grid
  for the 480-pixel input (34 x 46; random values);
* ``bifusion_online``: the BiFusion model, the map computed in the step by the frozen
  ``OpenClipViT`` ViT-B/16 (random init: no weights can be downloaded here; PixelShuffle x2
  -> 192 channels) from the decoded colour image — the online fallback for a frame without
  a stored map.

All in fp32 (the configs' mixed precision is a GPU setting), with glibc malloc told to keep
freed memory (``MALLOC_ENV``; ``--system-malloc`` for its defaults). Prints the median step time
of each and the ratios of the medians ``bifusion_vs_3d_step_ratio=<x>`` (goal <= 1.25; the
BiFusion config includes the Tiny-SA neck it inherits), ``bifusion_vs_3dtsa_step_ratio=<x>``
(the 2D branch alone), ``online_vs_stored_2d_ratio=<x>`` (report),
``tiny_sa_vs_3d_step_ratio=<x>``,
``dino_inject_vs_3d_step_ratio=<x>`` (goal <= 1.15) and ``dino_pyramid_ms_per_frame=<x>``
(building the pyramid of one 20k-point frame), one per line.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

import oneformer3d  # noqa: F401  (compatibility fixes before MinkowskiEngine)
import MinkowskiEngine as ME
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from oneformer3d.datasets.transforms.loading_clip import read_rgb
from oneformer3d.registry import DATASETS, MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = os.environ.get('ONEFORMER3D_DATA', osp.join(REPO, '..', 'shared', 'data'))
CONFIGS = {r: osp.join(REPO, 'configs', 'esam', f'ESAM_sv_{r}_scannet.py')
           for r in ('3d', '3dtsa', 'bifusion')}
CONFIGS['dino_inject'] = osp.join(REPO, 'configs', 'dino',
                                  'ESAM_sv_dino_fpn_inject_scannet200.py')
STORED = dict(bifusion=(192, None), dino_inject=(1024, (34, 46)))   # channels, grid


def prepare(out: str) -> None:
    for cmd in (['tools/create_data.py', 'scannet_sv', '--root-path', osp.join(DATA, 'scannet'),
                 '--out-dir', out, '--pack-clip'],
                ['tools/extract_2d_features.py', '--infos',
                 osp.join(out, 'scannet_sv_oneformer3d_infos_train_clip.pkl'),
                 '--encoder', 'RGBPatchEncoder', '--workers', '0']):
        subprocess.run([sys.executable, *cmd], cwd=REPO, check=True, capture_output=True)


def build(route: str, out: str, voxel_size: float):
    cfg = Config.fromfile(CONFIGS[route])
    ds_cfg = cfg.train_dataloader.dataset
    clip = route in STORED
    ann = 'scannet_sv_oneformer3d_infos_train' + ('_clip.pkl' if clip else '.pkl')
    ds_cfg.update(data_root=out + '/', type='ScanNetSegDataset', ann_file=ann)
    cfg.model.data_preprocessor.voxel_size = voxel_size
    if route == 'bifusion':
        cfg.model.bi_encoder.update(use_amp=False, img_stride=None)
    model = MODELS.build(cfg.model).train()
    return model, DATASETS.build(ds_cfg), torch.optim.AdamW(model.parameters(), lr=1e-4)


# glibc malloc keeping freed memory (no mmap/munmap per large tensor, no trimming): without
# it every step's large tensors are fresh pages, page faults that grow with the working set
# and not with the compute (the Tiny-SA model measured 1.21-1.29x the 3D step with glibc's
# defaults, 1.12x with these; the PyTorch CPU tuning guide recommends an allocator that
# reuses memory, jemalloc/tcmalloc; on GPU the CUDA caching allocator does this)
MALLOC_ENV = dict(MALLOC_MMAP_THRESHOLD_=str(2 ** 32), MALLOC_TRIM_THRESHOLD_=str(2 ** 32),
                  MALLOC_TOP_PAD_=str(2 ** 28))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--iters', type=int, default=5)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--voxel-size', type=float, default=0.02)
    p.add_argument('--system-malloc', action='store_true',
                   help="glibc malloc's defaults (default: re-run with MALLOC_ENV)")
    args = p.parse_args(argv)
    tuned = all(os.environ.get(k) == v for k, v in MALLOC_ENV.items())
    if not args.system_malloc and not tuned:      # glibc reads these at start-up only
        os.execve(sys.executable, [sys.executable, osp.abspath(__file__),
                                   *(sys.argv[1:] if argv is None else argv)],
                  dict(os.environ, **MALLOC_ENV))
    init_default_scope('oneformer3d')
    out = tempfile.mkdtemp(prefix='bench_fusion_')
    prepare(out)
    torch.manual_seed(0)
    variants = {r: build(r, out, args.voxel_size) for r in CONFIGS}
    variants['bifusion_online'] = variants['bifusion']
    encoder = MODELS.build(dict(type='OpenClipViT', model_name='ViT-B-16')).eval()
    _, ds, _ = variants['bifusion']
    item = ds[0]
    img = torch.from_numpy(read_rgb(item['data_samples'].metainfo['img_path']).copy()
                           ).permute(2, 0, 1)[None]
    grid = encoder(img)['pix'].shape[-2:]
    stored = {k: torch.randn(c, *(g or grid)) for k, (c, g) in STORED.items()}
    times = {k: [] for k in variants}

    def make_batch(name, sample):
        batch = pseudo_collate([sample])
        if name in STORED or name == 'bifusion_online':
            if name == 'bifusion_online':
                with torch.no_grad():
                    pix = encoder(img)['pix'][0]
            else:
                pix = stored[name]
            batch['inputs']['clip_pix'] = [pix.half()]
            h, w = item['data_samples'].metainfo['img_shape']
            batch['data_samples'][0].set_metainfo(dict(clip_stride=(w / pix.shape[-1],
                                                                    h / pix.shape[-2])))
        return batch

    names = list(variants)
    for i in range(args.iters + args.warmup):
        # the order rotates each iteration: no variant always runs after the same one
        for name in names[i % len(names):] + names[:i % len(names)]:
            model, dataset, opt = variants[name]
            np.random.seed(i)                  # the same augmented sample for every variant
            sample = dataset[0]                # loading and decoding: not timed
            t0 = time.perf_counter()
            batch = make_batch(name, sample)
            data = model.data_preprocessor(batch, True)
            losses = model.loss(data['inputs'], data['data_samples'])
            loss = sum(v for k, v in losses.items() if k.startswith('loss'))
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i >= args.warmup:
                times[name].append(time.perf_counter() - t0)
    # medians: one slow step (this machine's timings vary up to 2x) does not move them
    med = {k: float(np.median(v)) for k, v in times.items()}
    model, dataset, _ = variants['dino_inject']          # the pyramid alone
    pyramid = []
    for _ in range(3):
        d = model.data_preprocessor(make_batch('dino_inject', dataset[0]), True)['inputs']
        x = ME.SparseTensor(features=d['voxels']['features'].float(),
                            coordinates=d['voxels']['coordinates'])
        t0 = time.perf_counter()
        model.injector.prepare(x, d)
        pyramid.append(time.perf_counter() - t0)
    print(f'real frame, 20000 points, voxel {args.voxel_size} m, {args.iters} timed steps '
          f'each (after {args.warmup} warm-up), threads {torch.get_num_threads()}, '
          f'2D grid {tuple(grid)}, malloc {"MALLOC_ENV" if tuned else "glibc defaults"}')
    for k, v in med.items():
        print(f'{k:16s} {v:.2f} s/step median  (mean {np.mean(times[k]):.2f}, '
              f'min {min(times[k]):.2f}, max {max(times[k]):.2f})')
    print(f'bifusion_vs_3d_step_ratio={med["bifusion"] / med["3d"]:.3f}')
    print(f'bifusion_vs_3dtsa_step_ratio={med["bifusion"] / med["3dtsa"]:.3f}')
    print(f'online_vs_stored_2d_ratio={med["bifusion_online"] / med["bifusion"]:.3f}')
    print(f'dino_pyramid_ms_per_frame={1000 * float(np.mean(pyramid)):.0f}')
    print(f'dino_inject_vs_3d_step_ratio={med["dino_inject"] / med["3d"]:.3f}')
    print(f'tiny_sa_vs_3d_step_ratio={med["3dtsa"] / med["3d"]:.3f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
