"""Registries of the ``oneformer3d`` scope.

Every registry is a child of mmengine's root registry of the same name, so configs
with ``default_scope='oneformer3d'`` find our components first and mmengine's own
(optimizers, schedulers, hooks, loops) through the parent. ``locations`` lists the
packages imported on first build, so configs need no ``custom_imports`` for our modules.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import Registry

SCOPE = 'oneformer3d'

MODELS = Registry('model', parent=MMENGINE_MODELS, scope=SCOPE,
                  locations=['oneformer3d.models'])
TASK_UTILS = Registry('task util', parent=MMENGINE_TASK_UTILS, scope=SCOPE,
                      locations=['oneformer3d.models'])
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope=SCOPE,
                    locations=['oneformer3d.datasets'])
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, scope=SCOPE,
                      locations=['oneformer3d.datasets.transforms'])
DATA_SAMPLERS = Registry('data sampler', parent=MMENGINE_DATA_SAMPLERS, scope=SCOPE,
                         locations=['oneformer3d.datasets'])
METRICS = Registry('metric', parent=MMENGINE_METRICS, scope=SCOPE,
                   locations=['oneformer3d.evaluation'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope=SCOPE,
                 locations=['oneformer3d.engine'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope=SCOPE,
                 locations=['oneformer3d.engine'])
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, scope=SCOPE,
                          locations=['oneformer3d.engine'])
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS, scope=SCOPE,
                      locations=['oneformer3d.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry('optimizer wrapper constructor',
                                      parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, scope=SCOPE,
                                      locations=['oneformer3d.engine'])
PARAM_SCHEDULERS = Registry('parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS,
                            scope=SCOPE, locations=['oneformer3d.engine'])
VISUALIZERS = Registry('visualizer', parent=MMENGINE_VISUALIZERS, scope=SCOPE,
                       locations=['oneformer3d.engine'])
VISBACKENDS = Registry('vis_backend', parent=MMENGINE_VISBACKENDS, scope=SCOPE,
                       locations=['oneformer3d.engine'])
RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, scope=SCOPE,
                   locations=['oneformer3d.engine'])
LOG_PROCESSORS = Registry('log_processor', parent=MMENGINE_LOG_PROCESSORS, scope=SCOPE,
                          locations=['oneformer3d.engine'])
