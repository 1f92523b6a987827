"""Models: backbones (or fusion encoders) -> (superpoint pooling) -> decoders -> criteria;
one detector class.
Online multi-view parts: memory (decoder-level feature memory), heads (merge head), online
(scene-level instance merging)."""
from .backbones import *  # noqa: F401,F403
from .criteria import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
from .decoders import *  # noqa: F401,F403
from .detectors import *  # noqa: F401,F403
from .fusion import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .img_encoders import *  # noqa: F401,F403
from .memory import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .online import *  # noqa: F401,F403
from .task_modules import *  # noqa: F401,F403
