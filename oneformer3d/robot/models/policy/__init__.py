"""Stage 2 of the alignment study: one action head on several input routes; stage 3: the
RGB teacher distilled into one small image network."""
from .action_head import ActionHead
from .action_policy import ActionPolicy
from .rgb_teacher import RGBTeacher
from .student_distiller import StudentDistiller
from .spatial_softmax import SpatialSoftmaxKeypoints
from .timm_student import TimmStudent
from .token_encoders import PackTokenEncoder, PointTokenEncoder

__all__ = ['ActionHead', 'ActionPolicy', 'PackTokenEncoder', 'PointTokenEncoder', 'RGBTeacher',
           'SpatialSoftmaxKeypoints', 'StudentDistiller', 'TimmStudent']
