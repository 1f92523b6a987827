"""Config loading shared by the tools (train/test): overrides, launcher, work_dir default."""
import os.path as osp
from typing import Optional

from mmengine.config import Config

from .config_check import check_component_args, check_overrides


def add_repeatability_args(parser) -> None:
    """``--seed`` and ``--deterministic`` for a tool's argparse parser (read by
    :func:`load_config`)."""
    parser.add_argument('--seed', type=int, default=None,
                        help='random seed (config: randomness)')
    parser.add_argument('--deterministic', action='store_true',
                        help='torch.use_deterministic_algorithms; on CPU also run with '
                             'OMP_NUM_THREADS=1 for bitwise-repeatable training')


def load_config(path: str, cfg_options: Optional[dict] = None, work_dir: Optional[str] = None,
                launcher: str = 'none', seed: Optional[int] = None,
                deterministic: bool = False) -> Config:
    """Read ``path``, apply ``--cfg-options``, set the launcher and the work dir
    (``work_dirs/<config name>`` unless given on the command line or in the config), and
    ``--seed`` / ``--deterministic`` (mmengine's ``randomness``: the seed of python, numpy and
    torch, and ``torch.use_deterministic_algorithms``).

    Raises:
        ValueError: an override key that does not exist (``+key=value`` adds one on purpose),
            or a hook / loop argument its class does not take (names the closest one).
    """
    cfg = Config.fromfile(path)
    if cfg_options:
        # a typo in a key path must not create a new, unused key (utils/config_check.py)
        cfg.merge_from_dict(check_overrides(cfg, cfg_options))
    check_component_args(cfg)
    if seed is not None or deterministic:
        cfg.randomness = dict(cfg.get('randomness') or {})
        if seed is not None:
            cfg.randomness['seed'] = seed
        if deterministic:
            cfg.randomness['deterministic'] = True
    cfg.launcher = launcher
    cfg.work_dir = work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(path))[0])
    return cfg
