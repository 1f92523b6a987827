"""Does a trained stage-2 head use the scene? Swap each step's scene for another layout's.

    python tools/robot/scene_sensitivity.py --runs pc=WORK/action_head_rlbench_pc \\
        rgb_aligned=WORK/action_head_rlbench_rgb_aligned [--pairs 4] [--stride 3]

For pairs of the run's own training episodes (different layouts: Meta-World seeds, RLBench
variations), each step ``t`` of the first is predicted twice — with its own visual input and
with the second episode's at the same step (clamped to its length); the proprioception is the
first's in both. Prints one line per run: ``input=I scene_swap_change_cm=C pred_err_cm=E
target_offset_cm=O ratio=C/O steps=N``: the mean change of the predicted position under the
swap, the mean error of the predictions with the true scene, and the mean distance of the
target from the current hand (the size of what the head predicts). A head that reads the
scene changes its prediction by a sizeable part of ``O`` when the scene is another layout's;
one that fits its demos from the hand position alone (the copycat shortcut) does not. The
``proprio`` route has no scene: 0 by construction.
"""
import argparse
import sys


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--runs', nargs='+', required=True, metavar='INPUT=WORK_DIR',
                   help='finished stage-2 runs (pc, rgb_aligned, rgb, proprio)')
    p.add_argument('--pairs', type=int, default=4, help='episode pairs (i, i + E/2)')
    p.add_argument('--stride', type=int, default=3, help='every k-th step')
    return p.parse_args(argv)


def sensitivity(model, ds_cfg, pairs: int, stride: int) -> dict:
    """Mean swap change, prediction error and target offset (m) over the episode pairs."""
    import torch
    from oneformer3d.registry import DATASETS
    eps = list(ds_cfg.episodes)
    if len(eps) < 2:
        raise SystemExit(f'{ds_cfg.data_root}: the run trained on {len(eps)} episode(s); '
                         f'two layouts are needed')
    half = max(len(eps) // 2, 1)
    change, err, offset = [], [], []
    for i in range(min(pairs, len(eps) - half)):
        a, b = (DATASETS.build(dict(ds_cfg, episodes=[e], test_mode=True, pipeline=None))
                for e in (eps[i], eps[i + half]))
        for t in range(0, len(a), stride):
            sa, sb = a[t], b[min(t, len(b) - 1)]
            own = batch(sa['inputs'])
            swapped = dict(own, **{k: v for k, v in batch(sb['inputs']).items()
                                   if k in ('points', 'tokens')})
            with torch.no_grad():
                p_own, p_swap = model(own)['trans'][0], model(swapped)['trans'][0]
            target = sa['data_samples']['target_trans'].float()
            change.append((p_own - p_swap).norm().item())
            err.append((p_own - target).norm().item())
            offset.append((target - sa['inputs']['proprio'][:3]).norm().item())
    n = len(change)
    return dict(change=sum(change) / n, err=sum(err) / n, offset=sum(offset) / n, steps=n)


def batch(inputs: dict) -> dict:
    return {k: ({kk: vv[None] for kk, vv in v.items()} if isinstance(v, dict) else v[None])
            for k, v in inputs.items()}


def main(argv=None):
    args = parse_args(argv)
    import torch
    import oneformer3d.robot  # noqa: F401  (registers the robot stack)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from oneformer3d.engine.run_links import finished_run_files
    from oneformer3d.registry import MODELS
    from oneformer3d.utils.load_report import load_file_checked
    init_default_scope('oneformer3d')
    torch.set_num_threads(1)
    for spec in args.runs:
        name, _, folder = spec.partition('=')
        if not folder:
            raise SystemExit(f'--runs takes INPUT=WORK_DIR, got {spec!r}')
        try:
            config, ckpt = finished_run_files(folder)
        except FileNotFoundError as err:
            raise SystemExit(str(err)) from None
        cfg = Config.fromfile(config)
        model_cfg = cfg.model.copy()
        if model_cfg.get('token_encoder') and 'checkpoint' in model_cfg.token_encoder:
            model_cfg.token_encoder.checkpoint = None      # the policy checkpoint holds them
        model = MODELS.build(model_cfg).eval()
        load_file_checked(model, ckpt, strict=True)
        r = sensitivity(model, cfg.train_dataloader.dataset, args.pairs, args.stride)
        print(f"input={name} scene_swap_change_cm={100 * r['change']:.3f} "
              f"pred_err_cm={100 * r['err']:.3f} target_offset_cm={100 * r['offset']:.3f} "
              f"ratio={r['change'] / max(r['offset'], 1e-9):.3f} steps={r['steps']}",
              flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
