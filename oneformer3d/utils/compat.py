"""Every compatibility fix this dependency stack needs, in one place.

:func:`apply_all` runs once when ``oneformer3d`` is imported; each fix checks whether the
platform needs it and does nothing otherwise. :data:`APPLIED` records which ones acted.
The facts behind each fix are in ``../shared/STACK.md`` (numbers there).

1. ``collections.Sequence`` (removed in Python 3.10) is used by MinkowskiEngine 0.5.4 in five
   files: alias the ``collections.abc`` names it imports.
2. torchvision's CUDA-only wheels on a CPU torch: ``import torchvision`` raises
   ``RuntimeError: operator torchvision::nms does not exist`` because the fake-kernel
   registrations run for C ops whose library failed to load. Define the two op schemas
   (``nms``, ``qnms``) and import again: the Python parts work, the C ops do not.
   This unbreaks ``timm``, ``open_clip`` and mmengine's ``Runner`` (its env collection
   imports torchvision).
3. Checkpoints on torch >= 2.6: every local checkpoint is loaded with ``weights_only=True``
   (mmengine's loader is replaced for local paths). Checkpoints written by our runner are
   made weights-only safe by :class:`oneformer3d.engine.hooks.SafeCheckpointHook`. A file
   that still needs unpickling raises an error that names the file and the opt-in
   (``allow_unsafe_checkpoint=True`` in the config), and the opt-in is logged when used.
4. ``torchrun`` on a CPU torch: mmengine's ``pytorch`` launcher calls
   ``torch.cuda.set_device`` unconditionally. :func:`init_cpu_distributed` initialises the
   gloo process group from torchrun's environment first (mmengine then skips its own init);
   ``tools/train.py`` and ``tools/test.py`` call it.
5. AMP on CPU: mmengine's ``AmpOptimWrapper`` asserts a GPU; the project's optim wrapper
   ``oneformer3d.engine.MixedPrecisionOptimWrapper`` runs bf16 autocast on CPU and fp16 with
   loss scaling on GPU. Nothing to patch at import; :func:`amp_dtype_for` says which.
"""
import collections
import collections.abc
import importlib.util
import logging
import os.path as osp
import pickle
import sys

import torch

APPLIED: dict = {}
_TV_LIBRARY = None  # keeps the torch.library registration alive
_ALLOW_UNSAFE = False


def patch_collections_abc() -> bool:
    """Alias ``collections.{Sequence, Mapping, ...}`` for MinkowskiEngine on Python >= 3.10."""
    changed = False
    for name in ('Sequence', 'Mapping', 'MutableMapping', 'Iterable', 'Callable'):
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))
            changed = True
    return changed


def patch_torchvision_cpu() -> bool:
    """Make ``import torchvision`` work with CUDA-only torchvision wheels on a CPU torch.

    Returns:
        True when the fix was needed and applied; False when torchvision is absent or
        imported natively.

    Raises:
        RuntimeError: any torchvision import error other than the missing-operator one.
    """
    global _TV_LIBRARY
    if 'torchvision' in sys.modules or importlib.util.find_spec('torchvision') is None:
        return False
    try:
        import torchvision  # noqa: F401
        return False
    except RuntimeError as err:
        if 'torchvision::nms' not in str(err) and 'does not exist' not in str(err):
            raise
    for mod in [m for m in sys.modules if m == 'torchvision' or m.startswith('torchvision.')]:
        del sys.modules[mod]
    _TV_LIBRARY = torch.library.Library('torchvision', 'DEF')  # noqa: TOR901
    _TV_LIBRARY.define('nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
    _TV_LIBRARY.define('qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
    import torchvision  # noqa: F401,F811
    return True


def allow_unsafe_checkpoint(allow: bool = True) -> None:
    """Opt in (process-wide) to unpickling checkpoints that are not weights-only safe.

    Only for files whose origin you trust: unpickling runs arbitrary code. Configs set this
    with ``allow_unsafe_checkpoint = True``; ``tools/train.py`` and ``tools/test.py`` call this.
    """
    global _ALLOW_UNSAFE
    _ALLOW_UNSAFE = bool(allow)
    if allow:
        logging.getLogger('oneformer3d').warning(
            'allow_unsafe_checkpoint=True: checkpoints that need pickle will be unpickled '
            '(only do this for files you trust)')


def load_local_checkpoint(filename: str, map_location=None):
    """Load a local checkpoint with ``weights_only=True``; see the module docstring.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        RuntimeError: the file needs unpickling and the opt-in is off (the message names the
            file and how to opt in), or the file is not a torch checkpoint at all.
        ValueError: a weight holds NaN/Inf (:func:`check_finite_checkpoint`).
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename}: checkpoint file does not exist')
    try:
        return check_finite_checkpoint(
            torch.load(filename, map_location=map_location, weights_only=True), filename)
    except pickle.UnpicklingError as err:
        reason = str(err).strip().splitlines()[0][:300]
        if _ALLOW_UNSAFE:
            logging.getLogger('oneformer3d').warning(
                f'{filename}: not weights-only safe ({reason}); unpickling it because '
                f'allow_unsafe_checkpoint=True')
            return check_finite_checkpoint(
                torch.load(filename, map_location=map_location, weights_only=False), filename)
        raise RuntimeError(
            f'{filename}: refusing to unpickle a checkpoint that is not weights-only safe '
            f'({reason}). If you trust where this file came from, opt in with '
            f'`allow_unsafe_checkpoint = True` in the config or '
            f'`--cfg-options allow_unsafe_checkpoint=True`.') from None
    except (RuntimeError, EOFError) as err:
        raise RuntimeError(f'{filename}: not a readable torch checkpoint ({err})') from None


def check_finite_checkpoint(ckpt, filename: str):
    """``ckpt`` unchanged when every floating-point tensor of its weights (``state_dict``,
    ``model``, or the dict itself when it holds only tensors) is finite.

    Raises:
        ValueError: naming ``filename``, the first tensor with NaN/Inf values, how many it
            holds and how many such tensors there are — a checkpoint of a diverged run must
            not be evaluated or fine-tuned as if it were a model.
    """
    state = ckpt
    if isinstance(ckpt, dict):
        for key in ('state_dict', 'model'):
            if isinstance(ckpt.get(key), dict):
                state = ckpt[key]
                break
    if not isinstance(state, dict):
        return ckpt
    bad = [(k, v) for k, v in state.items() if isinstance(v, torch.Tensor)
           and v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        key, value = bad[0]
        count = int((~torch.isfinite(value)).sum())
        raise ValueError(
            f'{filename}: non-finite weights: {key} holds {count} NaN/Inf of {value.numel()} '
            f'values ({len(bad)} of {len(state)} tensors are affected). The run that wrote it '
            f'diverged; use an earlier checkpoint of that run')
    return ckpt


def register_checkpoint_loader() -> bool:
    """Route mmengine's local-path checkpoint loading through :func:`load_local_checkpoint`."""
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes='', force=True)(
        lambda filename, map_location=None: load_local_checkpoint(filename, map_location))
    return True


def init_cpu_distributed(launcher: str) -> bool:
    """Initialise a gloo process group for ``launcher='pytorch'`` when CUDA is unavailable.

    Returns:
        True when it initialised the group; False when not needed (no launcher, CUDA present,
        or already initialised).
    """
    import torch.distributed as dist
    if launcher != 'pytorch' or torch.cuda.is_available() or dist.is_initialized():
        return False
    dist.init_process_group(backend='gloo')  # RANK/WORLD_SIZE/MASTER_* from torchrun
    return True


def close_distributed(sync: bool = True) -> bool:
    """Destroy the default process group, if any, before the process exits.

    Left to interpreter shutdown, gloo's worker threads can still be running when the group
    is torn down: a torchrun rank then aborts after finishing its work ("terminate called
    without an active exception", SIGABRT), and the launcher reports the run as failed. A
    barrier first (``sync``: after a run that finished normally — a rank leaving on an error
    must not wait for the others), so that no rank tears its connections down while another
    still uses them (without it the abort still happened in about one run in four under
    load). Then a garbage collection before the group is destroyed: an object still holding
    the group (DDP's reducer in a model the caller dropped, a reference cycle) is freed while
    the interpreter is alive. The remaining aborts happened in interpreter finalisation
    (``PYTHONFAULTHANDLER=1`` showed no Python frame), where gloo's threads may still hold
    work objects whose tensors need the GIL (pytorch/pytorch PR 179291) — the likely cause,
    not a proven one: the two-process test beside two training jobs on 2 cores aborted in 2
    of 19 runs without this collection and 0 of 30 with it (Fisher one-sided p = 0.15).
    Callers drop their Runner first. Returns True when a group was destroyed."""
    import gc

    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return False
    try:
        if sync:
            dist.barrier()
    finally:
        gc.collect()
        dist.destroy_process_group()
        gc.collect()
    return True


def amp_dtype_for(device_type: str) -> torch.dtype:
    """Autocast dtype used by the project's AMP on ``device_type``: bf16 on CPU, fp16 else."""
    return torch.bfloat16 if device_type == 'cpu' else torch.float16


def apply_all() -> dict:
    """Apply every fix once; returns :data:`APPLIED` (fix name -> whether it acted)."""
    if APPLIED:
        return APPLIED
    APPLIED['collections_abc'] = patch_collections_abc()
    APPLIED['torchvision_cpu'] = patch_torchvision_cpu()
    APPLIED['checkpoint_loader'] = register_checkpoint_loader()
    return APPLIED
