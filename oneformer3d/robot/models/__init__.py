"""Models of the robot stack: alignment (adapters, fusion, pooling, projector, the aligner),
policy (token encoders, the action head, teacher and student) and the InfoNCE criteria."""
from .alignment import *  # noqa: F401,F403
from .criteria import *  # noqa: F401,F403
from .policy import *  # noqa: F401,F403
