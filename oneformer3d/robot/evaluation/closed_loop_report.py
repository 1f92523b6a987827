"""The closed-loop benchmark's results (``tools/robot/sim_benchmark.py``, docs/robot_sim.md):
its cells read back from one or more work roots, the success table and the suite's answer.

A *cell* is one closed-loop evaluation: a task, an input (``expert``, ``pc``, ``rgb_aligned``,
``rgb``, ``proprio``, ``student``) and, but for the expert, a training seed; the benchmark
stores it as ``<root>/<task>/seed<k>/closed_loop/<run>.json`` (``closed_loop_expert.json`` one
level up), ``{'request': settings, 'row': {'rate', 'trials', 'policy_ms', ...}}``. Cells of
several roots make one table only when they were evaluated the same way
(:data:`CELL_SETTINGS`) and trained the same way (each seed folder's
``benchmark_request.json``) — the settings of one route (:data:`ROUTE_SETTINGS`: the ``pc``
route's input norm) excepted, which may differ from the other routes' but not within its own.
"""
import glob
import json
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

INPUT_ORDER = ('expert', 'pc', 'rgb_aligned', 'rgb', 'proprio', 'student')
# evaluation settings every cell of a table shares (the closed-loop cache's request)
CELL_SETTINGS = ('eval_seeds', 'max_steps', 'gain', 'target', 'keypoints', 'proprio_noise')
# settings that reach one input's run only: equal within that input, free across inputs
ROUTE_SETTINGS = {'pc': ('pc_norm',)}
# training-request keys not compared across tasks (each task has its own demos)
PER_TASK_REQUEST = ('episodes',)


def _first_difference(a: dict, b: dict, keys) -> Optional[Tuple[str, object, object]]:
    for key in keys:
        if a.get(key) != b.get(key):
            return key, a.get(key), b.get(key)
    return None


def read_cells(roots: Sequence[str]) -> Tuple[List[dict], List[str]]:
    """The cells stored under ``roots``, checked to belong in one table.

    Returns ``(cells, notes)``: each cell ``{'task', 'input', 'seed' (None for the expert),
    'rate', 'trials', 'policy_ms', 'mean_steps', 'request', 'source'}``; ``notes`` lines for
    seed folders without ``benchmark_request.json`` (their training settings are not checked).
    The expert's cell, present in every root, is kept once when the copies agree.

    Raises:
        FileNotFoundError: a root holds no cells (naming it).
        ValueError: two cells that differ in an evaluation setting, two ``pc`` cells that
            differ in ``pc_norm``, two seed folders trained with other settings, or one task,
            input and seed found twice with other results — naming both files and the setting.
    """
    cells, notes = [], []
    for root in roots:
        paths = sorted(glob.glob(osp.join(root, '*', 'closed_loop_expert.json')) +
                       glob.glob(osp.join(root, '*', 'seed*', 'closed_loop', '*.json')))
        if not paths:
            raise FileNotFoundError(f'{root}: no closed-loop cells (<task>/seed<k>/closed_loop/'
                                    f'*.json) — not a work root of tools/robot/sim_benchmark.py')
        for path in paths:
            with open(path) as fh:
                stored = json.load(fh)
            seed = re.fullmatch(r'seed(\d+)', osp.basename(osp.dirname(osp.dirname(path))))
            cells.append(dict(stored['row'], seed=int(seed.group(1)) if seed else None,
                              request=stored['request'], source=path))
    for cell in cells[1:]:
        diff = _first_difference(cells[0]['request'], cell['request'], CELL_SETTINGS)
        if diff:
            raise ValueError(f'{cells[0]["source"]} and {cell["source"]} were evaluated with '
                             f'other {diff[0]} ({diff[1]!r} vs {diff[2]!r}): their cells do not '
                             f'belong in one table')
    for inp, keys in ROUTE_SETTINGS.items():
        own = [c for c in cells if c['input'] == inp]
        for cell in own[1:]:
            diff = _first_difference(own[0]['request'], cell['request'], keys)
            if diff:
                raise ValueError(f'{own[0]["source"]} and {cell["source"]}: {inp} cells with '
                                 f'other {diff[0]} ({diff[1]!r} vs {diff[2]!r})')
    kept = {}
    for cell in cells:
        key = (cell['task'], cell['input'], cell['seed'])
        if key in kept:
            if cell['input'] == 'expert' and (kept[key]['rate'], kept[key]['trials']) == (
                    cell['rate'], cell['trials']):
                continue
            raise ValueError(f'{kept[key]["source"]} and {cell["source"]}: task {key[0]} input '
                             f'{key[1]} seed {key[2]} twice, with other results')
        kept[key] = cell
    notes += _check_training(kept.values())
    return list(kept.values()), notes


def _check_training(cells) -> List[str]:
    """Compare the ``benchmark_request.json`` of the seed folders the cells come from."""
    folders = sorted({osp.dirname(osp.dirname(c['source'])) for c in cells
                      if c['seed'] is not None})
    requests, notes = {}, []
    for folder in folders:
        path = osp.join(folder, 'benchmark_request.json')
        if not osp.isfile(path):
            notes.append(f'note=no_training_request folder={folder} (training settings not '
                         f'checked)')
            continue
        with open(path) as fh:
            requests[path] = json.load(fh)
    route_keys = {k for keys in ROUTE_SETTINGS.values() for k in keys}
    items = list(requests.items())
    for path, req in items[1:]:
        # every folder against the first one (but for the per-task keys) and against the
        # first folder of its own task (every key)
        same_task = next((p, r) for p, r in items if _task_of(p) == _task_of(path))
        for (first, ref), free in ((items[0], route_keys | set(PER_TASK_REQUEST)),
                                   (same_task, route_keys)):
            diff = _first_difference(ref, req, sorted((set(ref) | set(req)) - free))
            if diff:
                raise ValueError(f'{first} and {path}: trained with other {diff[0]} '
                                 f'({diff[1]!r} vs {diff[2]!r}); their cells do not belong in '
                                 f'one table')
    return notes


def _task_of(request_path: str) -> str:
    """``<root>/<task>/seed<k>/benchmark_request.json`` -> ``<task>``."""
    return osp.basename(osp.dirname(osp.dirname(request_path)))


def _successes(cells: Sequence[dict]) -> List[Tuple[Optional[int], int, int]]:
    """``(seed, successes, trials)`` per cell, in seed order (the expert's seed is None)."""
    return [(c.get('seed'), int(round(c['rate'] * c['trials'])), int(c['trials']))
            for c in sorted(cells, key=lambda c: -1 if c.get('seed') is None else c['seed'])]


def success_table(cells: Sequence[dict], tasks: Optional[Sequence[str]] = None,
                  inputs: Optional[Sequence[str]] = None,
                  per_seed: bool = False) -> Tuple[str, Dict, List[dict]]:
    """Success per task and input over training seeds.

    Args:
        cells: dicts with ``task``, ``input``, ``rate`` (0-1), ``trials``, ``policy_ms`` and
            ``seed`` (the training seed; None for the expert).
        tasks / inputs: rows / columns (default: those of the cells, inputs in
            :data:`INPUT_ORDER`; ``expert`` first).
        per_seed: follow each learned cell's ``mean [min–max]`` with its successes per
            training seed in seed order, ``(17, 18, 18)`` (of ``trials`` each).

    Returns:
        ``(markdown, table, csv_rows)``: the table with ``mean [min–max]`` success in % per
        cell (``–`` without cells); ``table[(task, input)] = (mean rate, mean policy ms)``
        (absent without cells); one csv row per filled cell (``mean``, ``min``, ``max``,
        ``seeds``, ``policy_ms``, ``per_seed`` = ``seed:k/n`` separated by spaces, ``-`` for
        the expert's seed).
    """
    tasks = list(tasks or dict.fromkeys(c['task'] for c in cells))
    present = {c['input'] for c in cells}
    inputs = list(inputs or [i for i in INPUT_ORDER if i in present])
    if 'expert' not in inputs:
        inputs = ['expert'] + inputs
    lines = ['| task | ' + ' | '.join(inputs) + ' |', '|---|' + '---|' * len(inputs)]
    table, csv_rows = {}, []
    for task in tasks:
        texts = []
        for inp in inputs:
            own = [c for c in cells if c['task'] == task and c['input'] == inp]
            if not own:
                texts.append('–')
                continue
            rates = [c['rate'] for c in own]
            ms = float(np.mean([c['policy_ms'] for c in own]))
            table[task, inp] = (float(np.mean(rates)), ms)
            counts = _successes(own)
            text = f'{100 * np.mean(rates):.0f} [{100 * min(rates):.0f}–{100 * max(rates):.0f}]'
            if per_seed and inp != 'expert':
                text += ' (' + ', '.join(str(k) for _, k, _ in counts) + ')'
            texts.append(text)
            csv_rows.append(dict(task=task, input=inp, mean=float(np.mean(rates)),
                                 min=min(rates), max=max(rates), seeds=len(rates),
                                 policy_ms=ms, per_seed=' '.join(
                                     f'{"-" if seed is None else seed}:{k}/{n}'
                                     for seed, k, n in counts)))
        lines.append(f'| {task} | ' + ' | '.join(texts) + ' |')
    return '\n'.join(lines), table, csv_rows


def proprio_lines(table: dict, tasks: Sequence[str]) -> List[str]:
    """``task=T proprio_success=x below_30pct=0|1`` per task with a ``proprio`` cell."""
    return [f'task={t} proprio_success={table[t, "proprio"][0]:.2f} '
            f'below_30pct={int(table[t, "proprio"][0] < 0.3)}'
            for t in tasks if (t, 'proprio') in table]


def paired(cells: Sequence[dict], num: str, den: str) -> List[dict]:
    """The cells of inputs ``num`` and ``den`` on the (task, training seed) pairs both have: a
    ratio compares runs of the same seeds (a student trained on seed 0 only is compared with its
    seed-0 teacher, not with the teacher's mean over more seeds)."""
    keys = [{(c['task'], c['seed']) for c in cells if c['input'] == i} for i in (num, den)]
    both = keys[0] & keys[1]
    return [c for c in cells if c['input'] in (num, den) and (c['task'], c['seed']) in both]


def suite_lines(table: dict, tasks: Sequence[str],
                cells: Optional[Sequence[dict]] = None) -> List[str]:
    """The benchmark's answer as printed lines, from ``table[(task, input)] = (success rate,
    policy ms)``.

    The suite is the tasks whose ``proprio`` success is below 30 % (the test that vision is
    needed; every task when ``proprio`` was not run). Lines: its tasks; the mean ``pc`` and
    ``rgb_aligned`` success over them, ``ratio_rgb_aligned_over_pc`` (``undefined(pc=0)``
    when ``pc`` is 0 there) and whether the headline holds (``rgb_aligned`` >= 90 % of ``pc``
    and above 0: a suite where nothing succeeds answers nothing); the ``rgb`` control (the same
    packs through fresh, trainable adapters) against ``rgb_aligned`` — what the stage-1
    alignment adds; then the student against its teacher (``rgb_aligned``) in success and
    policy time. A mean needs every suite task's cell; without them its line is left out.
    With ``cells`` (dicts with ``task``, ``input``, ``seed``, ``rate``, ``policy_ms``) each of
    these lines compares its two inputs over the training seeds both have (:func:`paired`);
    the suite still follows ``table``.
    """
    has_proprio = any(table.get((t, 'proprio')) for t in tasks)
    suite = suite_of(table, tasks)
    lines = [f'suite_tasks={",".join(suite) or "none"} '
             f'rule={"proprio_below_30pct" if has_proprio else "all_tasks"}']

    def mean(inp, other):
        own = table if cells is None else success_table(paired(cells, inp, other), suite)[1]
        vals = [own[t, inp] for t in suite if own.get((t, inp))]
        return ((float(np.mean([v[0] for v in vals])), float(np.mean([v[1] for v in vals])))
                if len(vals) == len(suite) and vals else None)

    pc, ali = mean('pc', 'rgb_aligned'), mean('rgb_aligned', 'pc')
    if pc and ali:
        ratio = f'{ali[0] / pc[0]:.3f}' if pc[0] > 0 else 'undefined(pc=0)'
        met = int(ali[0] > 0 and ali[0] >= 0.9 * pc[0])
        lines.append(f'suite_success_pc={pc[0]:.3f} suite_success_rgb_aligned={ali[0]:.3f} '
                     f'ratio_rgb_aligned_over_pc={ratio} rgb_aligned_ge_90pct_of_pc={met}')
    ali, rgb = mean('rgb_aligned', 'rgb'), mean('rgb', 'rgb_aligned')
    if ali and rgb:
        ratio = f'{ali[0] / rgb[0]:.3f}' if rgb[0] > 0 else 'undefined(rgb=0)'
        lines.append(f'suite_success_rgb={rgb[0]:.3f} ratio_rgb_aligned_over_rgb={ratio}')
    ali, stu = mean('rgb_aligned', 'student'), mean('student', 'rgb_aligned')
    if ali and stu:
        ratio = f'{stu[0] / ali[0]:.3f}' if ali[0] > 0 else 'undefined(rgb_aligned=0)'
        lines.append(f'suite_success_student={stu[0]:.3f} student_over_teacher={ratio} '
                     f'teacher_ms_over_student_ms={ali[1] / stu[1]:.2f}')
    return lines


def suite_of(table: dict, tasks: Sequence[str]) -> List[str]:
    """The suite's tasks: ``proprio`` below 30 % (every task when ``proprio`` was not run)."""
    if not any(table.get((t, 'proprio')) for t in tasks):
        return list(tasks)
    return [t for t in tasks if table.get((t, 'proprio')) and table[t, 'proprio'][0] < 0.3]


RATIOS = (('rgb_aligned', 'pc'), ('rgb_aligned', 'rgb'), ('student', 'rgb_aligned'))


def ratio_intervals(cells: Sequence[dict], suite: Sequence[str], draws: int = 2000,
                    seed: int = 0, level: float = 0.95) -> Dict[Tuple[str, str], tuple]:
    """Bootstrap intervals of the suite's success ratios (:data:`RATIOS`, numerator over
    denominator input), over both sources of spread the table shows: training seeds and
    evaluation layouts.

    Each ratio over the training seeds both its inputs have (:func:`paired`). One draw: per
    suite task and input, the training seeds resampled with replacement, each
    drawn seed's success redrawn as ``Binomial(trials, rate) / trials`` (resampling its
    rollouts); their mean is the cell; the suite mean over tasks; the ratio. The suite itself
    is fixed (the tasks of the point estimate). Percentile interval (Efron & Tibshirani 1993,
    ch. 13); draws whose denominator is 0 are dropped and counted.

    Args:
        cells: dicts with ``task``, ``input``, ``seed``, ``rate`` (0-1), ``trials``.
        suite: the tasks to average over.

    Returns:
        ``{(num, den): (lo, hi, dropped draws)}`` for the ratios whose inputs have a cell on
        every suite task.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for num, den in RATIOS:
        both = paired(cells, num, den)
        groups = {(t, i): [c for c in both if c['task'] == t and c['input'] == i]
                  for t in suite for i in (num, den)}
        if not suite or not all(groups.values()):
            continue
        means = {}
        for key, own in groups.items():
            rate = np.array([c['rate'] for c in own])
            trials = np.array([c['trials'] for c in own])
            pick = rng.integers(0, len(own), size=(draws, len(own)))
            means[key] = (rng.binomial(trials[pick], rate[pick]) / trials[pick]).mean(axis=1)
        top = np.mean([means[t, num] for t in suite], axis=0)
        bottom = np.mean([means[t, den] for t in suite], axis=0)
        ok = bottom > 0
        if not ok.any():
            continue
        alpha = (1 - level) / 2
        lo, hi = np.quantile(top[ok] / bottom[ok], [alpha, 1 - alpha])
        out[num, den] = (float(lo), float(hi), int((~ok).sum()))
    return out


def interval_lines(cells: Sequence[dict], suite: Sequence[str], draws: int = 2000) -> List[str]:
    """``ci95_ratio_<num>_over_<den>=[lo,hi]`` per ratio of :func:`ratio_intervals` over the
    ``suite`` (:func:`suite_of`), then ``bootstrap=...`` (what was resampled, draws, seed)."""
    found = ratio_intervals(cells, suite, draws=draws)
    if not found:
        return []
    parts = [f'ci95_ratio_{n}_over_{d}=[{lo:.2f},{hi:.2f}]' +
             (f'(dropped={k})' if k else '') for (n, d), (lo, hi, k) in found.items()]
    return [' '.join(parts) + f' bootstrap=training_seeds+layouts draws={draws} seed=0']
