"""Precompute 2D features per frame (``precompute_clip_feats``): one frozen encoder, stored
as ``<out-root>/<feat-dir>/<scene>/<frame>.pt`` for ``LoadClipFeature``.

Examples:
  # CLIP ViT-B/16 final-layer grid (PixelShuffle(2): 192 x H/8 x W/8) for SV infos' frames
  python tools/extract_2d_features.py --infos data/scannet_sv/scannet_sv_oneformer3d_infos_train.pkl \\
      --encoder OpenClipViT --model-name ViT-B-16 --weights weights/open_clip_vit_b16.bin
  # DINOv2 for the DINO routes (configs/dino): the defaults are ViT-L/14 on the whole frame,
  # short side 462 -> 462x616 (exactly 4:3, 33x44 tokens, 1024 channels), stored fp16 at the
  # CLIP path convention (clip_feat/<scene>/<frame>.pt) of the *_clip.pkl infos
  python tools/extract_2d_features.py --infos data/scannet200_sv/scannet200_sv_oneformer3d_infos_train_clip.pkl \\
      --encoder DINOv2 --weights weights/dinov2_vitl14.safetensors --device cuda:0 --compute-dtype fp16
  # DINOv2 ViT-L/14 on a 7-Scenes folder, two GPUs, fp16 compute, 4 PNG previews
  python tools/extract_2d_features.py --images '../shared/data/sevenscenes/redkitchen/*.color.jpg' \\
      --out-root data/sevenscenes --feat-dir dino_feat --encoder DINOv2 \\
      --model-name vit_large_patch14_dinov2 --weights weights/dinov2_vitl14.safetensors \\
      --device cuda:0 cuda:1 --compute-dtype fp16 --vis 4

Encoders (registered): OpenClipViT (--layer final|conv1), OpenClipResNet (--layer layer1..4),
DINOv2 (default vit_large_patch14_dinov2), DINOv3 (timm vit_*_patch16_dinov3, default
vit_large_patch16_dinov3 on the frame at 480x640; a name the installed timm lacks is an error
listing the ones it has), RGBPatchEncoder (no weights; a check of the conventions). Weights come from local
files only (--weights); without them the encoder is randomly initialised (tests) and the tool
says so.
"""
import argparse
import logging
import os.path as osp
import sys
import time

import numpy as np
from mmengine.config import DictAction
from PIL import Image

import oneformer3d  # noqa: F401  (compat fixes)
from oneformer3d.datasets.preprocessing.feature_extraction import (
    DTYPES, format_bytes, frames_from_globs, frames_from_infos, free_bytes, run_on_devices,
    storage_estimate)
from oneformer3d.datasets.preprocessing.feature_io import load_feature_file, scene_frame_of
from oneformer3d.models.img_encoders.base import FrozenImageEncoder
from oneformer3d.registry import MODELS


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group('frames')
    src.add_argument('--infos', nargs='*', default=[], help='infos .pkl files (SV or MV)')
    src.add_argument('--images', nargs='*', default=[], help='image globs (needs --out-root)')
    src.add_argument('--limit', type=int, default=None, help='only the first N frames')
    p.add_argument('--out-root', default=None, help='default: the infos file\'s folder')
    p.add_argument('--feat-dir', default='clip_feat', help='folder under --out-root')
    enc = p.add_argument_group('encoder')
    enc.add_argument('--encoder', default='OpenClipViT',
                     help='registered encoder: OpenClipViT | OpenClipResNet | DINOv2 | '
                          'DINOv3 | RGBPatchEncoder')
    enc.add_argument('--model-name', default=None, help='e.g. ViT-B-16, RN50, '
                     'vit_large_patch14_dinov2, vit_base_patch16_dinov3 (default: the encoder\'s)')
    enc.add_argument('--weights', default=None, help='local weights file (never downloads)')
    enc.add_argument('--layer', default=None, help='OpenClipViT: final|conv1; '
                     'OpenClipResNet: layer1..layer4')
    enc.add_argument('--short-side', type=int, default=None, help='network input short side')
    enc.add_argument('--encoder-opts', nargs='+', action=DictAction, default={},
                     help='more encoder arguments, key=value')
    run = p.add_argument_group('run')
    run.add_argument('--device', nargs='+', default=['cpu'], help='one process per device')
    run.add_argument('--batch-size', type=int, default=4)
    run.add_argument('--workers', type=int, default=2, help='image-decoding workers')
    run.add_argument('--compute-dtype', choices=list(DTYPES), default='fp32',
                     help='autocast dtype of the encoder (fp16 on GPU, bf16 on CPU)')
    run.add_argument('--store-dtype', choices=list(DTYPES), default='fp16')
    run.add_argument('--overwrite', action='store_true', help='redo frames already stored')
    run.add_argument('--vis', type=int, default=0,
                     help='write a PCA PNG for N evenly spaced frames to <feat-dir>_vis/')
    return p.parse_args(argv)


def encoder_config(args) -> dict:
    cfg = dict(type=args.encoder)
    for key, value in (('model_name', args.model_name), ('pretrained', args.weights),
                       ('layer', args.layer), ('short_side', args.short_side)):
        if value is not None:
            cfg[key] = value
    cfg.update(args.encoder_opts)
    return cfg


def write_previews(frames, count, out_root, feat_dir):
    from oneformer3d.visualization import save_feature_pca_png
    idx = np.unique(np.linspace(0, len(frames) - 1, count).round().astype(int))
    paths = []
    for i in idx:
        fr = frames[i]
        pix, _, meta = load_feature_file(fr['out_path'])
        scene, frame = scene_frame_of(fr['img_path'])
        title = f'{scene}/{frame}  {meta.get("encoder")}:{meta.get("layer")}'
        img = np.asarray(Image.open(fr['img_path']).convert('RGB'))
        paths.append(save_feature_pca_png(
            img, pix, osp.join(out_root, f'{feat_dir}_vis', f'{scene}_{frame}.png'), title))
    return paths


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    if not args.infos and not args.images:
        raise SystemExit('give --infos and/or --images')
    if args.images and not args.out_root:
        raise SystemExit('--images needs --out-root')
    frames = frames_from_infos(args.infos, args.out_root, args.feat_dir)
    frames += frames_from_globs(args.images, args.out_root, args.feat_dir)
    frames = frames[:args.limit] if args.limit else frames
    cfg = encoder_config(args)
    known = sorted(k for k, v in MODELS.module_dict.items()
                   if isinstance(v, type) and issubclass(v, FrozenImageEncoder))
    if args.encoder not in known:
        raise SystemExit(f'--encoder {args.encoder}: not a registered 2D encoder; known: '
                         f'{", ".join(known)}')
    if 'pretrained' not in cfg and args.encoder != 'RGBPatchEncoder':
        logging.warning('no --weights: the encoder is randomly initialised')
    encoder = MODELS.build(cfg)
    w, h = Image.open(frames[0]['img_path']).size
    est = storage_estimate(encoder, (h, w), len(frames), DTYPES[args.store_dtype])
    out_dir = osp.dirname(frames[0]['out_path'])
    print(f'{len(frames)} frames; map {est["shape"]} {args.store_dtype}: '
          f'{format_bytes(est["bytes_per_frame"])}/frame, this job '
          f'{format_bytes(est["job_bytes"])} (free: {format_bytes(free_bytes(out_dir))}); '
          f'ScanNet v2 at every 20th frame would need {format_bytes(est["scannet_every20_bytes"])}')
    t0 = time.time()
    stats = run_on_devices(frames, cfg, args.device,
                           encoder=encoder if len(args.device) == 1 else None,
                           batch_size=args.batch_size,
                           workers=args.workers, compute_dtype=args.compute_dtype,
                           store_dtype=args.store_dtype, overwrite=args.overwrite,
                           expect=dict(encoder=encoder.name, channels=est['shape'][0]))
    print(f'written={stats["written"]} skipped_existing={stats["skipped"]} '
          f'redone_incomplete={stats["redone_incomplete"]} '
          f'bytes={stats["bytes"]} time_s={time.time() - t0:.1f}')
    if args.vis:
        root = args.out_root or osp.dirname(osp.abspath(args.infos[0]))
        for path in write_previews(frames, args.vis, root, args.feat_dir):
            print(f'preview: {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
