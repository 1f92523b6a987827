"""Catch config typos before a run starts.

mmengine's ``merge_from_dict`` creates any key it is given, and hooks such as
``CheckpointHook`` take ``**kwargs``, so ``--cfg-options optim_wraper.optimizer.lr=0.5`` trains
at the default lr and ``default_hooks.checkpoint.intervl=1`` runs until the first save fails.
Two checks, both raising ``ValueError`` that names the key and the closest existing one:

* :func:`check_overrides`: every ``--cfg-options`` key path must exist in the merged config, or
  be a constructor argument of the registered ``type`` of the dict it goes into (e.g.
  ``model.backbone.pretrained``); a key written ``+key.path=value`` is an intentional new key.
* :func:`check_component_args`: the arguments of hooks (``default_hooks``, ``custom_hooks``) and
  loops (``train_cfg``, ``val_cfg``, ``test_cfg``) must be named parameters of their classes.
"""
import difflib
import inspect
from typing import Iterable, Optional

from mmengine.config import Config, ConfigDict

NEW_KEY_PREFIX = '+'


def _closest(name: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else ''


def _component_class(type_name, registries) -> Optional[type]:
    if not isinstance(type_name, str):
        return type_name if inspect.isclass(type_name) else None
    for registry in registries:
        cls = registry.get(type_name)
        if cls is not None:
            return cls
    return None


def _params(cls) -> tuple:
    """(named parameters, accepts **kwargs) of ``cls.__init__``."""
    sig = inspect.signature(cls.__init__)
    names = [p for p in sig.parameters if p != 'self']
    var_kw = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    return [n for n in names if sig.parameters[n].kind != inspect.Parameter.VAR_KEYWORD], var_kw


def _all_registries():
    from oneformer3d import registry as ours
    return [getattr(ours, n) for n in dir(ours) if n.isupper() and hasattr(getattr(ours, n),
                                                                           'get')]


def check_overrides(cfg: Config, options: dict, source: str = '--cfg-options') -> dict:
    """Check ``options`` (``{dotted.key: value}``) against ``cfg`` before merging; returns the
    options with the ``+`` escape removed.

    Raises:
        ValueError: a key path that exists nowhere (names the closest key at that level).
    """
    registries = _all_registries()
    tree = cfg.to_dict()
    clean = {}
    for key, value in options.items():
        if key.startswith(NEW_KEY_PREFIX):
            clean[key[len(NEW_KEY_PREFIX):]] = value
            continue
        node, path = tree, []
        for part in key.split('.'):
            if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
                node, path = node[int(part)], path + [part]
                continue
            if isinstance(node, dict) and part in node:
                node, path = node[part], path + [part]
                continue
            where = '.'.join(path) or 'the top level'
            existing = list(node) if isinstance(node, dict) else []
            if isinstance(node, dict) and (path[-1:] or [''])[0].endswith('_dataloader') \
                    and len(path) == 1:
                from torch.utils.data import DataLoader
                params, _ = _params(DataLoader)
                if part in params:            # a DataLoader argument (e.g. prefetch_factor)
                    break
                existing += params
            if isinstance(node, dict) and 'type' in node:
                cls = _component_class(node['type'], registries)
                if cls is not None:
                    params, _ = _params(cls)
                    if part in params or part == 'priority':  # a default not written out
                        break
                    existing += params
            raise ValueError(
                f"{source} {key}: no key '{part}' under {where} of {cfg.filename}"
                f'{_closest(part, existing)} (write +{key}=... to add a new key on purpose)')
        clean[key] = value
    return clean


def check_component_args(cfg: Config) -> None:
    """Check the arguments of hooks and loops against their classes' named parameters.

    Raises:
        ValueError: naming the config entry, the unknown argument and the closest parameter.
    """
    from mmengine.registry import HOOKS, LOOPS

    from oneformer3d.registry import HOOKS as OUR_HOOKS
    from oneformer3d.registry import LOOPS as OUR_LOOPS
    entries = []
    for name, hook in (cfg.get('default_hooks') or {}).items():
        entries.append((f'default_hooks.{name}', hook, (OUR_HOOKS, HOOKS)))
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        entries.append((f'custom_hooks.{i}', hook, (OUR_HOOKS, HOOKS)))
    for name in ('train_cfg', 'val_cfg', 'test_cfg'):
        if isinstance(cfg.get(name), (dict, ConfigDict)) and 'type' in cfg[name]:
            entries.append((name, cfg[name], (OUR_LOOPS, LOOPS)))
    for where, entry, registries in entries:
        if not isinstance(entry, dict) or 'type' not in entry:
            continue
        cls = _component_class(entry['type'], registries)
        if cls is None:
            continue                       # the Runner reports unknown types itself
        params, _ = _params(cls)
        runtime = {'priority'}          # read by the Runner, not the class
        for arg in entry:
            if arg != 'type' and arg not in params and arg not in runtime:
                raise ValueError(f"{cfg.filename}: {where}.{arg} is not an argument of "
                                 f"{cls.__name__}{_closest(arg, params)}")
