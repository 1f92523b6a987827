"""The one source of truth for ScanNet class tables (ScanNet200 and ScanNet-20).

Facts, from ScanNet's official benchmark scripts and label map:

* ScanNet200 (Rozenberszki et al., "Language-Grounded Indoor 3D Semantic Segmentation in the
  Wild", ECCV 2022; ScanNet ``BenchmarkScripts/ScanNet200/scannet200_constants.py``): 200
  semantic classes identified by the ``id`` column of ``scannetv2-labels.combined.tsv``
  (raw-category ids, 1..1191), names = that file's ``category`` column. Instance classes are
  the 198 that remain without ``wall`` (1) and ``floor`` (3). The head/common/tail split
  (66/68/66 classes) is the benchmark's frequency split.
* ScanNet-20 (ScanNet v2 benchmark): 20 semantic classes identified by NYU40 ids; the 18
  instance classes drop ``wall`` (1) and ``floor`` (2).

Train ids: semantic train id ``k`` is the index of the class in ``seg_class_ids``; every other
raw id maps to the ignore index ``len(seg_class_ids)``. Instance train id ``k`` is the index in
``inst_class_ids``. :class:`ClassTable` builds the raw-id -> train-id lookup tables; datasets,
transforms, metrics and ``tools/create_data.py`` all import them from here.
"""
import csv
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

SCANNET200_CLASS_IDS = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 24, 26, 27, 28, 29,
    31, 32, 33, 34, 35, 36, 38, 39, 40, 41, 42, 44, 45, 46, 47, 48, 49, 50, 51, 52, 54, 55, 56, 57,
    58, 59, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 82, 84, 86,
    87, 88, 89, 90, 93, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 110, 112, 115,
    116, 118, 120, 121, 122, 125, 128, 130, 131, 132, 134, 136, 138, 139, 140, 141, 145, 148, 154,
    155, 156, 157, 159, 161, 163, 165, 166, 168, 169, 170, 177, 180, 185, 188, 191, 193, 195, 202,
    208, 213, 214, 221, 229, 230, 232, 233, 242, 250, 261, 264, 276, 283, 286, 300, 304, 312, 323,
    325, 331, 342, 356, 370, 392, 395, 399, 408, 417, 488, 540, 562, 570, 572, 581, 609, 748, 776,
    1156, 1163, 1164, 1165, 1166, 1167, 1168, 1169, 1170, 1171, 1172, 1173, 1174, 1175, 1176, 1178,
    1179, 1180, 1181, 1182, 1183, 1184, 1185, 1186, 1187, 1188, 1189, 1190, 1191,
)

SCANNET200_CLASS_NAMES = (
    'wall', 'chair', 'floor', 'table', 'door', 'couch', 'cabinet', 'shelf', 'desk', 'office chair',
    'bed', 'pillow', 'sink', 'picture', 'window', 'toilet', 'bookshelf', 'monitor', 'curtain',
    'book', 'armchair', 'coffee table', 'box', 'refrigerator', 'lamp', 'kitchen cabinet', 'towel',
    'clothes', 'tv', 'nightstand', 'counter', 'dresser', 'stool', 'cushion', 'plant', 'ceiling',
    'bathtub', 'end table', 'dining table', 'keyboard', 'bag', 'backpack', 'toilet paper',
    'printer', 'tv stand', 'whiteboard', 'blanket', 'shower curtain', 'trash can', 'closet',
    'stairs', 'microwave', 'stove', 'shoe', 'computer tower', 'bottle', 'bin', 'ottoman', 'bench',
    'board', 'washing machine', 'mirror', 'copier', 'basket', 'sofa chair', 'file cabinet', 'fan',
    'laptop', 'shower', 'paper', 'person', 'paper towel dispenser', 'oven', 'blinds', 'rack',
    'plate', 'blackboard', 'piano', 'suitcase', 'rail', 'radiator', 'recycling bin', 'container',
    'wardrobe', 'soap dispenser', 'telephone', 'bucket', 'clock', 'stand', 'light',
    'laundry basket', 'pipe', 'clothes dryer', 'guitar', 'toilet paper holder', 'seat', 'speaker',
    'column', 'bicycle', 'ladder', 'bathroom stall', 'shower wall', 'cup', 'jacket', 'storage bin',
    'coffee maker', 'dishwasher', 'paper towel roll', 'machine', 'mat', 'windowsill', 'bar',
    'toaster', 'bulletin board', 'ironing board', 'fireplace', 'soap dish', 'kitchen counter',
    'doorframe', 'toilet paper dispenser', 'mini fridge', 'fire extinguisher', 'ball', 'hat',
    'shower curtain rod', 'water cooler', 'paper cutter', 'tray', 'shower door', 'pillar', 'ledge',
    'toaster oven', 'mouse', 'toilet seat cover dispenser', 'furniture', 'cart',
    'storage container', 'scale', 'tissue box', 'light switch', 'crate', 'power outlet',
    'decoration', 'sign', 'projector', 'closet door', 'vacuum cleaner', 'candle', 'plunger',
    'stuffed animal', 'headphones', 'dish rack', 'broom', 'guitar case', 'range hood', 'dustpan',
    'hair dryer', 'water bottle', 'handicap bar', 'purse', 'vent', 'shower floor', 'water pitcher',
    'mailbox', 'bowl', 'paper bag', 'alarm clock', 'music stand', 'projector screen', 'divider',
    'laundry detergent', 'bathroom counter', 'object', 'bathroom vanity', 'closet wall',
    'laundry hamper', 'bathroom stall door', 'ceiling light', 'trash bin', 'dumbbell', 'stair rail',
    'tube', 'bathroom cabinet', 'cd case', 'closet rod', 'coffee kettle', 'structure',
    'shower head', 'keyboard piano', 'case of water bottles', 'coat rack', 'storage organizer',
    'folded chair', 'fire alarm', 'power strip', 'calendar', 'poster', 'potted plant', 'luggage',
    'mattress',
)

SCANNET200_HEAD_NAMES = (
    'tv stand', 'curtain', 'blinds', 'shower curtain', 'bookshelf', 'tv', 'kitchen cabinet',
    'pillow', 'lamp', 'dresser', 'monitor', 'object', 'ceiling', 'board', 'stove', 'closet wall',
    'couch', 'office chair', 'kitchen counter', 'shower', 'closet', 'doorframe', 'sofa chair',
    'mailbox', 'nightstand', 'washing machine', 'picture', 'book', 'sink', 'recycling bin', 'table',
    'backpack', 'shower wall', 'toilet', 'copier', 'counter', 'stool', 'refrigerator', 'window',
    'file cabinet', 'chair', 'wall', 'plant', 'coffee table', 'stairs', 'armchair', 'cabinet',
    'bathroom vanity', 'bathroom stall', 'mirror', 'blackboard', 'trash can', 'stair rail', 'box',
    'towel', 'door', 'clothes', 'whiteboard', 'bed', 'floor', 'bathtub', 'desk', 'wardrobe',
    'clothes dryer', 'radiator', 'shelf',
)

SCANNET200_COMMON_NAMES = (
    'cushion', 'end table', 'dining table', 'keyboard', 'bag', 'toilet paper', 'printer', 'blanket',
    'microwave', 'shoe', 'computer tower', 'bottle', 'bin', 'ottoman', 'bench', 'basket', 'fan',
    'laptop', 'person', 'paper towel dispenser', 'oven', 'rack', 'piano', 'suitcase', 'rail',
    'container', 'telephone', 'stand', 'light', 'laundry basket', 'pipe', 'seat', 'column',
    'bicycle', 'ladder', 'jacket', 'storage bin', 'coffee maker', 'dishwasher', 'machine', 'mat',
    'windowsill', 'bulletin board', 'fireplace', 'mini fridge', 'water cooler', 'shower door',
    'pillar', 'ledge', 'furniture', 'cart', 'decoration', 'closet door', 'vacuum cleaner',
    'dish rack', 'range hood', 'projector screen', 'divider', 'bathroom counter', 'laundry hamper',
    'bathroom stall door', 'ceiling light', 'trash bin', 'bathroom cabinet', 'structure',
    'storage organizer', 'potted plant', 'mattress',
)

SCANNET200_TAIL_NAMES = (
    'paper', 'plate', 'soap dispenser', 'bucket', 'clock', 'guitar', 'toilet paper holder',
    'speaker', 'cup', 'paper towel roll', 'bar', 'toaster', 'ironing board', 'soap dish',
    'toilet paper dispenser', 'fire extinguisher', 'ball', 'hat', 'shower curtain rod',
    'paper cutter', 'tray', 'toaster oven', 'mouse', 'toilet seat cover dispenser',
    'storage container', 'scale', 'tissue box', 'light switch', 'crate', 'power outlet', 'sign',
    'projector', 'candle', 'plunger', 'stuffed animal', 'headphones', 'broom', 'guitar case',
    'dustpan', 'hair dryer', 'water bottle', 'handicap bar', 'purse', 'vent', 'shower floor',
    'water pitcher', 'bowl', 'paper bag', 'alarm clock', 'music stand', 'laundry detergent',
    'dumbbell', 'tube', 'cd case', 'closet rod', 'coffee kettle', 'shower head', 'keyboard piano',
    'case of water bottles', 'coat rack', 'folded chair', 'fire alarm', 'power strip', 'calendar',
    'poster', 'luggage',
)

SCANNET20_CLASS_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39)

SCANNET20_CLASS_NAMES = (
    'wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door', 'window', 'bookshelf',
    'picture', 'counter', 'desk', 'curtain', 'refrigerator', 'showercurtrain', 'toilet', 'sink',
    'bathtub', 'otherfurniture',
)


@dataclass(frozen=True)
class ClassTable:
    """A benchmark's class table and its raw-id -> train-id maps.

    Attributes:
        name: ``'scannet200'`` or ``'scannet'``.
        raw_id_kind: which raw ids the masks on disk carry: ``'scannet200'`` (tsv ``id``) or
            ``'nyu40'``.
        seg_class_ids: raw ids of the semantic classes, in train-id order.
        seg_class_names: their names.
        inst_class_ids: raw ids of the instance classes (a subset of ``seg_class_ids``).
        raw_id_limit: the largest raw id the label map can produce (NYU40: 40; ScanNet200's
            ``id`` column: 1357). Larger ids signal masks written with another label map.
        splits: optional ``{split_name: class names}`` (ScanNet200 head/common/tail).
    """
    name: str
    raw_id_kind: str
    seg_class_ids: tuple
    seg_class_names: tuple
    inst_class_ids: tuple
    raw_id_limit: int
    splits: dict = field(default_factory=dict)

    @property
    def num_seg_classes(self) -> int:
        return len(self.seg_class_ids)

    @property
    def num_inst_classes(self) -> int:
        return len(self.inst_class_ids)

    @property
    def ignore_index(self) -> int:
        """Semantic train id of every raw id outside the table (= ``num_seg_classes``)."""
        return len(self.seg_class_ids)

    @cached_property
    def inst_class_names(self) -> tuple:
        by_id = dict(zip(self.seg_class_ids, self.seg_class_names))
        return tuple(by_id[i] for i in self.inst_class_ids)

    @cached_property
    def seg_lut(self) -> np.ndarray:
        """(raw_id_limit + 1,) int64: raw id -> semantic train id, ``ignore_index`` elsewhere."""
        lut = np.full(self.raw_id_limit + 1, self.ignore_index, dtype=np.int64)
        lut[list(self.seg_class_ids)] = np.arange(self.num_seg_classes)
        return lut

    @cached_property
    def seg_to_inst(self) -> np.ndarray:
        """(num_seg_classes + 1,) int64: semantic train id -> instance train id, or -1 where the
        class is not an instance class (wall, floor, ignore)."""
        inst_of = {raw: k for k, raw in enumerate(self.inst_class_ids)}
        out = np.full(self.num_seg_classes + 1, -1, dtype=np.int64)
        for k, raw in enumerate(self.seg_class_ids):
            out[k] = inst_of.get(raw, -1)
        return out

    def map_raw_to_seg(self, raw_ids: np.ndarray, on_unknown: str = 'ignore') -> np.ndarray:
        """Map raw semantic ids to train ids.

        Args:
            raw_ids: (N,) integer array of raw ids (``0`` = unannotated).
            on_unknown: what to do with ids the label map cannot produce (negative or above
                ``raw_id_limit``; they signal masks written with another table):
                ``'ignore'`` maps them to ``ignore_index``, ``'raise'`` raises
                :class:`ValueError`. Valid ids outside the table always map to
                ``ignore_index``.

        Returns:
            (N,) int64 train ids in ``[0, num_seg_classes]``.
        """
        raw_ids = np.asarray(raw_ids).astype(np.int64, copy=False)
        bad = (raw_ids < 0) | (raw_ids > self.raw_id_limit)
        if bad.any():
            if on_unknown == 'raise':
                raise ValueError(
                    f'{int(bad.sum())} semantic ids outside the {self.raw_id_kind} label range '
                    f'0..{self.raw_id_limit} of the {self.name} table, e.g. '
                    f'{np.unique(raw_ids[bad])[:5].tolist()}')
            raw_ids = np.where(bad, 0, raw_ids)
        return self.seg_lut[raw_ids]

    def check_raw_id_kind(self, raw_ids: np.ndarray, source: str) -> None:
        """Stop when the ids were written with the other table's label map.

        ScanNet200 raw ids (tsv ``id``) and NYU40 ids share the range 1..40 with other
        meanings (NYU40 2 = floor, ScanNet200 2 = chair), so a NYU40-labelled scan read with
        the ScanNet200 table maps without an error to wrong classes. The sign: every id is at
        most 40 and some of them are no ScanNet200 class (NYU40 has 12 counter, 25 television,
        ...). Ids above 40 under the NYU40 table are caught by :meth:`map_raw_to_seg`.

        Raises:
            ValueError: naming ``source``, the ids and both ways out.
        """
        if self.raw_id_kind != 'scannet200':
            return
        ids = np.unique(np.asarray(raw_ids))
        ids = ids[ids > 0]
        foreign = sorted(set(ids.tolist()) - set(self.seg_class_ids))
        if len(ids) and ids.max() <= 40 and foreign:
            raise ValueError(
                f'{source}: every semantic id is <= 40 and {foreign} are no ScanNet200 class: '
                f'these look like NYU40 ids. Use `create_data.py scannet` (ScanNet-20 table) '
                f'for NYU40 labels, or write ScanNet200 raw ids (the `id` column of '
                f'scannetv2-labels.combined.tsv) for `scannet200`.')

    def metainfo(self) -> dict:
        """The ``metainfo`` dict stored in infos files and datasets."""
        return dict(
            dataset=self.name,
            raw_id_kind=self.raw_id_kind,
            classes=self.inst_class_names,
            seg_classes=self.seg_class_names,
            seg_valid_class_ids=self.seg_class_ids,
            inst_valid_class_ids=self.inst_class_ids,
            ignore_index=self.ignore_index,
        )


SCANNET200 = ClassTable(
    name='scannet200',
    raw_id_kind='scannet200',
    seg_class_ids=SCANNET200_CLASS_IDS,
    seg_class_names=SCANNET200_CLASS_NAMES,
    inst_class_ids=tuple(i for i in SCANNET200_CLASS_IDS if i not in (1, 3)),
    raw_id_limit=1357,
    splits=dict(head=SCANNET200_HEAD_NAMES, common=SCANNET200_COMMON_NAMES,
                tail=SCANNET200_TAIL_NAMES),
)

SCANNET20 = ClassTable(
    name='scannet',
    raw_id_kind='nyu40',
    seg_class_ids=SCANNET20_CLASS_IDS,
    seg_class_names=SCANNET20_CLASS_NAMES,
    inst_class_ids=tuple(i for i in SCANNET20_CLASS_IDS if i not in (1, 2)),
    raw_id_limit=40,
)

CLASS_TABLES = {'scannet200': SCANNET200, 'scannet': SCANNET20}


def get_class_table(name: str) -> ClassTable:
    """Return the table named ``'scannet200'`` or ``'scannet'`` (ScanNet-20)."""
    try:
        return CLASS_TABLES[name]
    except KeyError:
        raise KeyError(f'unknown class table {name!r}; known: {sorted(CLASS_TABLES)}') from None


def read_label_map(tsv_path: str) -> dict:
    """Read ScanNet's ``scannetv2-labels.combined.tsv``.

    Returns:
        ``{raw_category: {'id': ScanNet200 raw id, 'nyu40id': NYU40 id, 'category': name}}``.

    Raises:
        FileNotFoundError: naming the path, when it is missing.
        ValueError: naming the path, when a required column is absent.
    """
    try:
        fh = open(tsv_path, newline='', encoding='utf-8')
    except FileNotFoundError:
        raise FileNotFoundError(
            f'{tsv_path}: ScanNet label map not found (it ships with ScanNet as '
            f'scannetv2-labels.combined.tsv)') from None
    with fh:
        reader = csv.DictReader(fh, delimiter='\t')
        missing = {'id', 'raw_category', 'category', 'nyu40id'} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f'{tsv_path}: label map lacks columns {sorted(missing)}')
        out = {}
        for row in reader:
            out[row['raw_category']] = dict(
                id=int(row['id']), nyu40id=int(row['nyu40id'] or 0), category=row['category'])
    return out
