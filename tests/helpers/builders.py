"""Shared builders of the tests: small models, batches and configs on the real data (one copy
here; no test module imports another)."""
import os.path as osp

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from oneformer3d.registry import DATASETS, MODELS
from oneformer3d.structures import Det3DDataSample, PointData
from tests.conftest import REPO, data_path, run_script

ESAM_CFG = osp.join(REPO, 'configs', 'esam')
LIGHT = dict(layers=[1] * 8)          # one block per stage: the same code paths, faster


def real_points(n=3000, seed=0):
    """``n`` random points (N, 6) of a 2 m × 2 m corner of the real scene0000_00 and their
    instance ids (N,)."""
    pts = np.load(data_path('scannet', 'scans', 'scene0000_00_vert.npy'))
    ins = np.load(data_path('scannet', 'scans', 'scene0000_00_ins_label.npy')).astype(np.int64)
    lo = pts[:, :2].min(0)
    keep = np.flatnonzero((pts[:, 0] < lo[0] + 2) & (pts[:, 1] < lo[1] + 2))
    keep = np.random.default_rng(seed).choice(keep, min(n, len(keep)), replace=False)
    return torch.from_numpy(pts[keep]), torch.from_numpy(ins[keep])


def build_model(**decoder):
    """The overfit config's model with ``decoder`` overrides."""
    cfg = Config.fromfile(osp.join(REPO, 'configs/oneformer3d/overfit_scene.py'))
    cfg.model.decoder.update(decoder)
    return MODELS.build(cfg.model)


def make_batch(pts, ins):
    """One sample of points (colours 0..255, normalised here) with instance masks and
    20-point superpoints, as the data preprocessor receives it."""
    from mmengine.structures import InstanceData
    sample = Det3DDataSample()
    uniq, inv = torch.unique(ins, return_inverse=True)
    new = inv if uniq[0] == 0 else inv + 1
    sample.gt_pts_seg = PointData(pts_semantic_mask=torch.zeros_like(ins),
                                  pts_instance_mask=new,
                                  sp_pts_mask=torch.div(torch.arange(len(ins)), 20,
                                                        rounding_mode='floor'))
    sample.gt_instances_3d = InstanceData(labels_3d=torch.zeros(int(new.max()), dtype=torch.long))
    pts = pts.clone()
    pts[:, 3:] = pts[:, 3:] / 127.5 - 1
    return dict(inputs=dict(points=[pts]), data_samples=[sample])


def sample_cfg(name, **backbone):
    """``configs/esam/ESAM_sv_<name>_scannet_sample.py`` with U-Net overrides (the U-Net of the
    backbone or of the BiFusion encoder)."""
    cfg = Config.fromfile(osp.join(ESAM_CFG, f'ESAM_sv_{name}_scannet_sample.py'))
    key = 'bi_encoder' if cfg.model.get('bi_encoder') else 'backbone'
    part = cfg.model[key]['backbone3d'] if key == 'bi_encoder' else cfg.model[key]
    part.update(backbone)
    return cfg


def batch_of(cfg, root, model, indices=(0, 1)):
    """Samples ``indices`` of the config's training dataset under ``root``, collated and
    through the model's data preprocessor."""
    ds = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=root + '/'))
    return model.data_preprocessor(pseudo_collate([ds[i] for i in indices]), True)


def train(args, nproc=1, timeout=600, threads=2):
    """``tools/train.py args`` in a subprocess (``nproc`` > 1: under torchrun, gloo, one
    thread per process)."""
    if nproc > 1:
        return run_script(['-m', 'torch.distributed.run', f'--nproc_per_node={nproc}',
                           '--master_port=29517', osp.join(REPO, 'tools/train.py'), *args,
                           '--launcher', 'pytorch'], threads=1, timeout=timeout)
    return run_script([osp.join(REPO, 'tools/train.py'), *args], threads, timeout)
