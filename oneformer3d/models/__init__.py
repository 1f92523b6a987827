"""Models: backbones (or fusion encoders) -> (superpoint pooling) -> decoders -> criteria;
one detector class.
Online multi-view parts, all in ``online/``: the voxel memory, the merge head and its criteria,
the scene-level mergers and the sequence training / streaming of the detector."""
from .backbones import *  # noqa: F401,F403
from .criteria import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
from .decoders import *  # noqa: F401,F403
from .detectors import *  # noqa: F401,F403
from .fusion import *  # noqa: F401,F403
from .img_encoders import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .online import *  # noqa: F401,F403
from .task_modules import *  # noqa: F401,F403
