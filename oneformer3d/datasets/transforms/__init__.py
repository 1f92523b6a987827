from .augmentation import ElasticTransform, GlobalRotScaleTrans, RandomFlip3D
from .formatting import Pack3DDetInputs
from .instance_boxes import ScanInstanceBoxes
from .loading import LoadAnnotations3D, LoadPointsFromFile
from .loading_adjacent import LoadAdjacentDataFromFile
from .loading_clip import LoadClipFeature
from .point_transforms import (NormalizePointsColor, PointInstClassMapping, PointSample,
                               PointSegClassMapping)

__all__ = ['ElasticTransform', 'GlobalRotScaleTrans', 'LoadAdjacentDataFromFile', 'LoadAnnotations3D', 'LoadClipFeature',
           'LoadPointsFromFile', 'NormalizePointsColor', 'Pack3DDetInputs',
           'PointInstClassMapping', 'PointSample', 'PointSegClassMapping', 'RandomFlip3D',
           'ScanInstanceBoxes']
