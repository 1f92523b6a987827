"""One load report for every way weights enter a model (backbone ``pretrained``, ``load_from``,
``tools/test.py``): what was loaded, missing, unexpected and shape-mismatched, and one rule for
when that is an error.

torch's ``load_state_dict(strict=False)`` and mmengine's ``load_checkpoint`` only log what they
skip, so a checkpoint of another config (another class count, another backbone) evaluates or
trains from random weights without a word. :func:`load_state_dict_checked` filters the shape
mismatches itself (torch raises on them even with ``strict=False``), loads the rest, and
raises ``ValueError`` with the whole report when the policy is not met.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn


@dataclass
class LoadReport:
    """Result of loading a state dict into a module.

    Attributes:
        source: where the weights came from (a file name), used in every message.
        loaded: keys copied into the module.
        missing: module keys the state dict did not provide (random init kept).
        unexpected: state-dict keys the module has no place for (ignored).
        mismatched: ``(key, checkpoint shape, module shape)`` of keys present on both sides
            with different shapes (not loaded; also counted as missing).
        numel: element count of each module key; :attr:`missing_fraction` weighs keys by it.
    """
    source: str
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, tuple, tuple]] = field(default_factory=list)
    numel: Dict[str, int] = field(default_factory=dict)

    @property
    def missing_fraction(self) -> float:
        """Share of the targeted weights (elements, not tensors: 55 missing kernels can be
        most of a U-Net) left at their initialisation; 1.0 when nothing is targeted."""
        size = lambda keys: sum(self.numel.get(k, 1) for k in keys)  # noqa: E731
        total = size(self.loaded) + size(self.missing)
        return size(self.missing) / total if total else 1.0

    def summary(self, max_keys: int = 8) -> str:
        def short(keys):
            keys = list(keys)
            more = f' ... (+{len(keys) - max_keys})' if len(keys) > max_keys else ''
            return ', '.join(map(str, keys[:max_keys])) + more
        lines = [f'{self.source}: loaded {len(self.loaded)} tensors, missing '
                 f'{len(self.missing)} ({self.missing_fraction:.0%} of the weights), unexpected '
                 f'{len(self.unexpected)}, shape-mismatched {len(self.mismatched)}']
        if self.missing:
            lines.append(f'  missing: {short(self.missing)}')
        if self.unexpected:
            lines.append(f'  unexpected: {short(self.unexpected)}')
        if self.mismatched:
            lines.append('  shape-mismatched: ' + short(
                f'{k} {tuple(a)} in the checkpoint vs {tuple(b)} in the model'
                for k, a, b in self.mismatched))
        return '\n'.join(lines)

    def check(self, strict: bool = False, max_missing_fraction: float = 1.0,
              allow_unexpected: bool = True, hint: str = '') -> 'LoadReport':
        """Raise ``ValueError`` (the summary, plus ``hint``) when nothing was loaded, when
        ``strict`` and anything is missing / unexpected / mismatched, when more than
        ``max_missing_fraction`` of the module's keys are missing, or when unexpected keys
        are not allowed. Returns ``self``."""
        problems = []
        if not self.loaded:
            problems.append('no tensor of the checkpoint matches the model')
        if strict and (self.missing or self.unexpected or self.mismatched):
            problems.append('strict loading needs every key to match')
        if self.missing_fraction > max_missing_fraction:
            problems.append(f'{self.missing_fraction:.0%} of the weights are missing (allowed: '
                            f'{max_missing_fraction:.0%})')
        if self.unexpected and not allow_unexpected:
            problems.append('the checkpoint has keys the model does not')
        if problems:
            raise ValueError('; '.join(problems) + '\n' + self.summary(max_keys=20)
                             + (f'\n{hint}' if hint else ''))
        return self


def load_state_dict_checked(module: nn.Module, state_dict: Dict[str, torch.Tensor],
                            source: str, logger=None) -> LoadReport:
    """Load what fits of ``state_dict`` into ``module`` and report the rest.

    Args:
        module: the target (e.g. a backbone, or a whole detector).
        state_dict: ``{key: tensor}`` in the module's key space (prefixes already mapped).
        source: file name or description for messages.
        logger: optional logger (``.info``) that receives :meth:`LoadReport.summary`.

    Returns:
        :class:`LoadReport`; call :meth:`LoadReport.check` to enforce a policy.
    """
    own = module.state_dict()
    report = LoadReport(source=source, numel={k: v.numel() for k, v in own.items()})
    usable = {}
    for key, value in state_dict.items():
        if key not in own:
            report.unexpected.append(key)
        elif tuple(own[key].shape) != tuple(value.shape):
            report.mismatched.append((key, tuple(value.shape), tuple(own[key].shape)))
        else:
            usable[key] = value
    module.load_state_dict(usable, strict=False)
    report.loaded = sorted(usable)
    report.missing = [k for k in own if k not in usable]
    if logger is not None:
        logger.info(report.summary())
    return report


def checkpoint_state_dict(ckpt, source: str) -> Dict[str, torch.Tensor]:
    """The weights of a loaded checkpoint: ``ckpt['state_dict']`` (mmengine / Lightning),
    ``ckpt['model']``, or ``ckpt`` itself when it is a plain ``{key: tensor}`` dict.

    Raises:
        ValueError: naming ``source`` when no tensor dict is found.
    """
    if isinstance(ckpt, dict):
        for key in ('state_dict', 'model'):
            if isinstance(ckpt.get(key), dict):
                return ckpt[key]
        if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            return ckpt
    raise ValueError(f'{source}: no state dict found (expected a dict of tensors, or one under '
                     f"'state_dict' / 'model')")


def strip_prefix(state_dict: Dict[str, torch.Tensor],
                 prefix: Optional[str]) -> Dict[str, torch.Tensor]:
    """Keys below ``prefix`` with it removed (all keys when ``prefix`` is falsy)."""
    if not prefix:
        return dict(state_dict)
    return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}


def load_file_checked(module: nn.Module, path: str, strict: bool = True, hint: str = '',
                      prefix: Optional[str] = None) -> LoadReport:
    """A checkpoint file into ``module`` through the one policy of this module: read with
    :func:`oneformer3d.utils.load_local_checkpoint` (weights-only, finite), the weights
    (:func:`checkpoint_state_dict`) below ``prefix`` (stripped; e.g. ``'student.'``),
    :func:`load_state_dict_checked`, then :meth:`LoadReport.check` (``strict``, ``hint``).
    The tools that exist for a trained model use it (stream demo, forward check, student
    export, streaming benchmark).

    Raises:
        ValueError: the report (naming ``path``) when the policy is not met, or no tensor
            lies below ``prefix``.
    """
    from .compat import load_local_checkpoint
    state = checkpoint_state_dict(load_local_checkpoint(path, map_location='cpu'), path)
    source = path
    if prefix:
        state, source = strip_prefix(state, prefix), f'{path} ({prefix}*)'
        if not state:
            raise ValueError(f'{path}: no {prefix}* tensors')
    report = load_state_dict_checked(module, state, source)
    return report.check(strict=strict, hint=hint)