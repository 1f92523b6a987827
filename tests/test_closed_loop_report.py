"""The closed-loop benchmark's report (oneformer3d/robot/evaluation/closed_loop_report.py,
tools/robot/sim_report.py): the suite's answer and the table from cells written by hand in the
benchmark's layout, computed by hand; cells that do not belong in one table refused."""
import json
import re

import pytest

from oneformer3d.robot.evaluation.closed_loop_report import (ratio_intervals, read_cells,
                                                             success_table, suite_lines)
from .conftest import call_tool

EVAL = dict(eval_seeds='1000-1019', max_steps=120, gain=10.0, target='expert_action',
            keypoints=16, proprio_noise=0.02)
TRAIN = dict(iters=3000, aligner_iters=100, pack_encoders=['rgb=RGBPatchEncoder'],
             short_side=98, target='expert_action', keypoints=16, proprio_noise=0.02)


def put_cell(root, task, inp, seed, k, n=20, ms=10.0, run=None, **settings):
    """One cell as sim_benchmark.closed_loop stores it (and its seed folder's training request)."""
    folder = root / task if seed is None else root / task / f'seed{seed}' / 'closed_loop'
    folder.mkdir(parents=True, exist_ok=True)
    name = 'closed_loop_expert' if seed is None else (run or f'action_head_rlbench_{inp}')
    request = dict(EVAL, input=inp, run=None if seed is None else name, **settings)
    row = dict(task=task, input=inp, rate=k / n, trials=n, policy_ms=ms, mean_steps=90.0)
    (folder / f'{name}.json').write_text(json.dumps(dict(request=request, row=row, line='')))
    if seed is not None:
        req = folder.parent / 'benchmark_request.json'
        if not req.exists():
            extra = {k: v for k, v in settings.items() if k == 'pc_norm'}
            req.write_text(json.dumps(dict(TRAIN, episodes=[f'{task}-ep{i}' for i in range(3)],
                                           **extra)))


def test_suite_is_the_tasks_where_proprio_fails():
    """The headline over the tasks with proprio < 30 % only; pc at 0 gives an undefined ratio,
    not nan; the rgb control against rgb_aligned; a suite task without a cell gives no mean."""
    # the measured keypoints + noise rows (button-press-topdown, dial-turn) and a task where
    # proprio succeeds (window-open's 40 %), whose 100 % rgb_aligned must not count
    table = {('bpt', 'pc'): (0.0, 9.3), ('bpt', 'rgb_aligned'): (0.65, 53.0),
             ('bpt', 'proprio'): (0.0, 1.3), ('dial', 'pc'): (0.0, 9.0),
             ('dial', 'rgb_aligned'): (0.30, 50.0), ('dial', 'proprio'): (0.05, 1.2),
             ('win', 'pc'): (1.0, 9.0), ('win', 'rgb_aligned'): (1.0, 50.0),
             ('win', 'proprio'): (0.40, 1.2)}
    assert suite_lines(table, ['bpt', 'dial', 'win']) == [
        'suite_tasks=bpt,dial rule=proprio_below_30pct',
        'suite_success_pc=0.000 suite_success_rgb_aligned=0.475 '
        'ratio_rgb_aligned_over_pc=undefined(pc=0) rgb_aligned_ge_90pct_of_pc=1']
    # (0.45 + 0.30) / 2 = 0.375 over (0.50 + 0.30) / 2 = 0.400 -> 0.9375 >= 0.9; the student
    # at (0.40 + 0.20) / 2 = 0.300 -> 0.800 of its teacher, 52.5 / 5.25 = 10x faster
    table = {('a', 'pc'): (0.5, 9.0), ('a', 'rgb_aligned'): (0.45, 50.0),
             ('a', 'student'): (0.40, 5.0), ('b', 'pc'): (0.3, 9.0),
             ('b', 'rgb_aligned'): (0.30, 55.0), ('b', 'student'): (0.20, 5.5)}
    assert suite_lines(table, ['a', 'b']) == [
        'suite_tasks=a,b rule=all_tasks',
        'suite_success_pc=0.400 suite_success_rgb_aligned=0.375 '
        'ratio_rgb_aligned_over_pc=0.938 rgb_aligned_ge_90pct_of_pc=1',
        'suite_success_student=0.300 student_over_teacher=0.800 teacher_ms_over_student_ms=10.00']
    table[('b', 'pc')] = (0.6, 9.0)         # 0.375 / 0.55 = 0.68 < 0.9
    assert suite_lines(table, ['a', 'b'])[1].endswith('ratio_rgb_aligned_over_pc=0.682 '
                                                      'rgb_aligned_ge_90pct_of_pc=0')
    # the rgb control: (0.45 + 0.30) / 2 = 0.375 over (0.30 + 0.20) / 2 = 0.250 -> 1.5
    table.update({('a', 'rgb'): (0.30, 50.0), ('b', 'rgb'): (0.20, 50.0)})
    assert 'suite_success_rgb=0.250 ratio_rgb_aligned_over_rgb=1.500' in suite_lines(
        table, ['a', 'b'])
    table.update({('a', 'rgb'): (0.0, 50.0), ('b', 'rgb'): (0.0, 50.0)})
    assert 'suite_success_rgb=0.000 ratio_rgb_aligned_over_rgb=undefined(rgb=0)' in suite_lines(
        table, ['a', 'b'])
    del table[('b', 'pc')]                  # a suite task without its pc cell: no mean
    assert not any(line.startswith('suite_success_pc') for line in suite_lines(table, ['a', 'b']))


@pytest.fixture
def two_roots(tmp_path):
    """The layout this slice measured: rgb_aligned / rgb / proprio in one root, pc with its
    input norm in another; two tasks, two training seeds."""
    a, b = tmp_path / 'kpn', tmp_path / 'kpn_bn'
    cells = {('t1', 'rgb_aligned'): (13, 9), ('t1', 'rgb'): (9, 7), ('t1', 'proprio'): (0, 0),
             ('t2', 'rgb_aligned'): (5, 3), ('t2', 'rgb'): (4, 4), ('t2', 'proprio'): (1, 2)}
    for (task, inp), ks in cells.items():
        put_cell(a, task, 'expert', None, 20, ms=0.1)
        for seed, k in enumerate(ks):
            put_cell(a, task, inp, seed, k, run=None if inp != 'rgb' else
                     'action_head_rlbench_rgb_raw', ms=40.0)
    for task, ks in (('t1', (17, 20)), ('t2', (9, 1))):
        put_cell(b, task, 'expert', None, 20, ms=0.1, pc_norm='BN1d')
        for seed, k in enumerate(ks):
            put_cell(b, task, 'pc', seed, k, pc_norm='BN1d')
    return a, b


def test_report_joins_roots_by_hand(two_roots, tmp_path):
    rc, log = call_tool('robot/sim_report', *two_roots, '--out', tmp_path / 'out' / 'table')
    assert rc == 0, log
    assert ('eval_seeds=1000-1019 max_steps=120 gain=1/action_scale target=expert_action '
            'keypoints=16 proprio_noise=0.02 pc_norm=BN1d') in log
    # t1: expert 100; pc (17 + 20) / 40 = 92.5 -> 92 [85–100]; rgb_aligned (13 + 9) / 40 = 55;
    # rgb (9 + 7) / 40 = 40; proprio 0. t2: pc 25 [5–45]; rgb_aligned 20 [15–25];
    # rgb 20 [20–20]; proprio 7.5 -> 8 [5–10]
    assert '| task | expert | pc | rgb_aligned | rgb | proprio |' in log
    assert '| t1 | 100 [100–100] | 92 [85–100] | 55 [45–65] | 40 [35–45] | 0 [0–0] |' in log
    assert '| t2 | 100 [100–100] | 25 [5–45] | 20 [15–25] | 20 [20–20] | 8 [5–10] |' in log
    assert 'seeds=pc:2 rgb_aligned:2 rgb:2 proprio:2' in log
    # suite: both tasks (proprio 0 and 7.5 %); pc (0.925 + 0.25) / 2 = 0.5875, rgb_aligned
    # (0.55 + 0.20) / 2 = 0.375 -> 0.638; rgb (0.40 + 0.20) / 2 = 0.300 -> 1.250
    assert 'suite_success_pc=0.588 suite_success_rgb_aligned=0.375 ' \
           'ratio_rgb_aligned_over_pc=0.638 rgb_aligned_ge_90pct_of_pc=0' in log
    assert 'suite_success_rgb=0.300 ratio_rgb_aligned_over_rgb=1.250' in log
    assert 'note=' not in log
    # bootstrap intervals around the point ratios (0.638 and 1.250)
    m = re.search(r'ci95_ratio_rgb_aligned_over_pc=\[([\d.]+),([\d.]+)\] '
                  r'ci95_ratio_rgb_aligned_over_rgb=\[([\d.]+),([\d.]+)\] '
                  r'bootstrap=training_seeds\+layouts draws=2000 seed=0', log)
    assert m, log
    lo, hi, lo2, hi2 = map(float, m.groups())
    assert lo < 0.638 < hi < 1 and lo2 < 1.250 < hi2
    md = (tmp_path / 'out' / 'table.md').read_text()
    assert '| t2 | 100 [100–100] | 25 [5–45]' in md and 'ratio_rgb_aligned_over_pc=0.638' in md
    csv = (tmp_path / 'out' / 'table.csv').read_text().splitlines()
    assert csv[0] == 'task,input,mean,min,max,seeds,policy_ms,per_seed' and len(csv) == 1 + 2 * 5
    assert 't2,pc,0.25,0.05,0.45,2,10.0,0:9/20 1:1/20' in csv
    assert 't1,expert,1.0,1.0,1.0,1,0.1,-:20/20' in csv
    # --per-seed: each learned cell's successes per training seed, in seed order
    rc, log = call_tool('robot/sim_report', *two_roots, '--per-seed')
    assert rc == 0, log
    assert ('| t2 | 100 [100–100] | 25 [5–45] (9, 1) | 20 [15–25] (5, 3) | 20 [20–20] (4, 4) '
            '| 8 [5–10] (1, 2) |') in log
    rc, log = call_tool('robot/sim_report', *two_roots, '--tasks', 't2', '--inputs', 'pc',
                        'rgb_aligned')
    assert rc == 0 and '| t2 | 100 [100–100] | 25 [5–45] | 20 [15–25] |' in log and 't1' not in log
    # the answer follows the chosen columns: no rgb control, no proprio rule, t2's pc ratio
    # 0.20 / 0.25 = 0.8 (interval on the same two inputs only)
    assert 'suite_tasks=t2 rule=all_tasks' in log and 'ratio_rgb_aligned_over_pc=0.800' in log
    assert 'suite_success_rgb=' not in log and 'over_rgb=' not in log and 'proprio_success' not in log


def test_report_refuses_cells_that_do_not_belong_together(two_roots, tmp_path):
    a, b = two_roots
    cells, _ = read_cells([a, b])
    assert len(cells) == 2 + 2 * 2 * 4          # one expert per task, 2 tasks x 2 seeds x 4
    # another evaluation
    c = tmp_path / 'other_eval'
    put_cell(c, 't1', 'student', 0, 12, **dict(EVAL, eval_seeds='1000-1049'))
    with pytest.raises(ValueError, match=r'other_eval/t1/seed0/closed_loop/.*other eval_seeds '
                                         r"\('1000-1019' vs '1000-1049'\)"):
        read_cells([a, c])
    # the same cell twice with another result
    d = tmp_path / 'again'
    put_cell(d, 't1', 'rgb_aligned', 0, 12)
    with pytest.raises(ValueError, match=r'task t1 input rgb_aligned seed 0 twice'):
        read_cells([a, d])
    # pc cells with and without the norm
    e = tmp_path / 'pc_plain'
    put_cell(e, 't1', 'pc', 2, 0)
    with pytest.raises(ValueError, match=r"pc cells with other pc_norm \('BN1d' vs None\)"):
        read_cells([b, e])
    # a seed folder trained with other iterations
    f = tmp_path / 'short'
    put_cell(f, 't1', 'student', 0, 10)
    req = f / 't1' / 'seed0' / 'benchmark_request.json'
    req.write_text(json.dumps(dict(json.loads(req.read_text()), iters=600)))
    with pytest.raises(ValueError, match=r'trained with other iters \(3000 vs 600\)'):
        read_cells([a, f])
    # the demos of one task differ within it, not across tasks
    g = tmp_path / 'other_demos'
    put_cell(g, 't1', 'student', 0, 10)
    req = g / 't1' / 'seed0' / 'benchmark_request.json'
    req.write_text(json.dumps(dict(json.loads(req.read_text()), episodes=['x'])))
    with pytest.raises(ValueError, match=r'trained with other episodes'):
        read_cells([a, g])
    rc, log = call_tool('robot/sim_report', tmp_path / 'nothing')
    assert rc != 0 and 'nothing: no closed-loop cells' in log
    rc, log = call_tool('robot/sim_report', a, '--tasks', 't3')
    assert rc != 0 and "no cells for tasks ['t3']" in log and "['t1', 't2']" in log
    rc, log = call_tool('robot/sim_report', a, '--inputs', 'rgb_raw')
    assert rc != 0 and "no cells for inputs ['rgb_raw']" in log and "'rgb_aligned'" in log


def test_ratio_intervals_against_binomial_quantiles():
    """The bootstrap against cases with a known answer: a constant denominator leaves the
    numerator's binomial quantiles (scipy); two seeds at 0 % and 100 % give [0, 1]; a
    denominator drawn at 0 is dropped as often as Binomial(20, 0.05) gives 0."""
    from scipy.stats import binom
    cells = [dict(task='t', input='pc', seed=0, rate=1.0, trials=40),
             dict(task='t', input='rgb_aligned', seed=0, rate=0.5, trials=40)]
    lo, hi, dropped = ratio_intervals(cells, ['t'], draws=20000)['rgb_aligned', 'pc']
    assert dropped == 0
    assert lo == pytest.approx(binom.ppf(0.025, 40, 0.5) / 40, abs=1 / 40)
    assert hi == pytest.approx(binom.ppf(0.975, 40, 0.5) / 40, abs=1 / 40)
    # training seeds: rgb_aligned 0 % on one, 100 % on the other (no layout spread); pc 100 %
    cells = [dict(task='t', input='pc', seed=s, rate=1.0, trials=20) for s in (0, 1)] + [
        dict(task='t', input='rgb_aligned', seed=s, rate=float(s), trials=20) for s in (0, 1)]
    assert ratio_intervals(cells, ['t'])['rgb_aligned', 'pc'] == (0.0, 1.0, 0)
    # the suite's mean over tasks: a second task at 100 / 100 halves the spread -> [0.5, 1]
    cells += [dict(task='u', input=i, seed=0, rate=1.0, trials=20) for i in ('pc', 'rgb_aligned')]
    assert ratio_intervals(cells, ['t', 'u'])['rgb_aligned', 'pc'] == (0.5, 1.0, 0)
    assert ('rgb_aligned', 'rgb') not in ratio_intervals(cells, ['t', 'u'])   # no rgb cells
    cells = [dict(task='t', input='pc', seed=0, rate=0.05, trials=20),
             dict(task='t', input='rgb_aligned', seed=0, rate=0.5, trials=20)]
    dropped = ratio_intervals(cells, ['t'], draws=20000)['rgb_aligned', 'pc'][2]
    assert dropped / 20000 == pytest.approx(0.95 ** 20, abs=0.015)


def test_ratios_compare_the_same_training_seeds():
    """A student trained on seed 0 only is compared with its seed-0 teacher, not with the
    teacher's mean over two seeds; the table itself keeps every seed."""
    cells = [dict(task='t', input='rgb_aligned', seed=0, rate=0.60, trials=20, policy_ms=40.0),
             dict(task='t', input='rgb_aligned', seed=1, rate=0.20, trials=20, policy_ms=40.0),
             dict(task='t', input='student', seed=0, rate=0.45, trials=20, policy_ms=4.0),
             dict(task='t', input='pc', seed=0, rate=0.80, trials=20, policy_ms=6.0),
             dict(task='t', input='pc', seed=1, rate=0.40, trials=20, policy_ms=6.0)]
    _, table, _ = success_table(cells)
    assert table['t', 'rgb_aligned'] == (pytest.approx(0.40), 40.0)        # both seeds
    lines = suite_lines(table, ['t'], cells)
    # pc and rgb_aligned share both seeds: 0.40 / 0.60; the student 0.45 / 0.60 (seed 0)
    assert 'suite_success_pc=0.600 suite_success_rgb_aligned=0.400 ' \
           'ratio_rgb_aligned_over_pc=0.667 rgb_aligned_ge_90pct_of_pc=0' in lines
    assert 'suite_success_student=0.450 student_over_teacher=0.750 ' \
           'teacher_ms_over_student_ms=10.00' in lines
    # without the cells the table's means (0.45 / 0.40) would have been compared
    assert 'student_over_teacher=1.125' in suite_lines(table, ['t'])[-1]
    # the bootstrap pairs the same way: seed 0 alone, each draw a Binomial(20, p) ratio
    lo, hi, _ = ratio_intervals(cells, ['t'])['student', 'rgb_aligned']
    assert lo < 0.75 < hi
