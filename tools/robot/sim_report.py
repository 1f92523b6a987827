"""The closed-loop benchmark's table and answer from the cells it stored, in one or more work
roots (docs/robot_sim.md, "Results from several work roots").

    python tools/robot/sim_report.py work_dirs/sim_bench_kpn work_dirs/sim_bench_kpn_bn
    python tools/robot/sim_report.py work_dirs/sim_bench --tasks dial-turn-v3 --out results/dial

``tools/robot/sim_benchmark.py`` prints the table of the cells one run asked for; routes run in
separate roots (side by side, or with a setting that reaches one route only, such as
``--pc-norm``) are put together here. Cells join one table only when they were evaluated and
trained alike (``oneformer3d/robot/evaluation/closed_loop_report.py``); otherwise the tool stops,
naming both files and the setting.

Prints ``cells=N roots=... eval_seeds=... max_steps=... target=... pc_norm=...``, the table
(success % mean [min–max] over training seeds; ``seeds=`` per input), the ``proprio`` test per
task and the suite's lines (``suite_tasks=``, ``ratio_rgb_aligned_over_pc=``,
``ratio_rgb_aligned_over_rgb=``, the student against its teacher) and their bootstrap
intervals over training seeds and layouts (``ci95_ratio_rgb_aligned_over_pc=[lo,hi]`` ...).
``--per-seed`` follows each learned cell with its successes per training seed, in seed order
(``88 [85–90] (17, 18, 18)``; the csv has them always). ``--out PREFIX`` writes ``PREFIX.md``
and ``PREFIX.csv``.
"""
import argparse
import csv
import os
import os.path as osp
import sys


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('roots', nargs='+', help='work roots of tools/robot/sim_benchmark.py')
    p.add_argument('--tasks', nargs='+',
                   help='rows, and the tasks the answer is over (default: every task with cells)')
    p.add_argument('--inputs', nargs='+', help='columns, and the inputs the answer compares '
                   '(default: every input with cells)')
    p.add_argument('--per-seed', action='store_true',
                   help='follow each cell with its successes per training seed, (17, 18, 18)')
    p.add_argument('--out', help='write PREFIX.md and PREFIX.csv')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from oneformer3d.robot.evaluation.closed_loop_report import (CELL_SETTINGS, interval_lines,
                                                                 proprio_lines, read_cells,
                                                                 suite_lines, suite_of,
                                                                 success_table)
    try:
        cells, notes = read_cells(args.roots)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(str(err)) from None
    known = sorted({c['task'] for c in cells})
    unknown = sorted(set(args.tasks or []) - set(known))
    if unknown:
        raise SystemExit(f'no cells for tasks {unknown} in {args.roots}; tasks there: {known}')
    inputs = sorted({c['input'] for c in cells})
    if set(args.inputs or []) - set(inputs):
        raise SystemExit(f'no cells for inputs {sorted(set(args.inputs) - set(inputs))} in '
                         f'{args.roots}; inputs there: {inputs}')
    # the answer follows the chosen rows and columns, as the table does
    cells = [c for c in cells if (not args.tasks or c['task'] in args.tasks) and
             (not args.inputs or c['input'] in ['expert', *args.inputs])]
    tasks = args.tasks or list(dict.fromkeys(c['task'] for c in cells))
    md, table, csv_rows = success_table(cells, tasks, args.inputs, args.per_seed)
    request = cells[0]['request']
    pc = [c for c in cells if c['input'] == 'pc']
    shown = dict(request)
    if request.get('target') == 'expert_action':     # the rule fixes the controller's gain
        shown['gain'] = '1/action_scale'
    head = (f'cells={len(cells)} roots={",".join(args.roots)} ' +
            ' '.join(f'{k}={shown.get(k)}' for k in CELL_SETTINGS) +
            (f' pc_norm={pc[0]["request"].get("pc_norm")}' if pc else ''))
    seeds = {}
    for row in csv_rows:
        seeds.setdefault(row['input'], set()).add(row['seeds'])
    seed_line = 'seeds=' + ' '.join(f'{i}:{"/".join(map(str, sorted(n)))}'
                                    for i, n in seeds.items() if i != 'expert')
    answer = ([seed_line] + proprio_lines(table, tasks) + suite_lines(table, tasks, cells) +
              interval_lines(cells, suite_of(table, tasks)))
    print('\n'.join(notes + [head, md] + answer))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out + '.md', 'w') as fh:
            fh.write('\n\n'.join([head, md, '\n'.join(answer)]) + '\n')
        with open(args.out + '.csv', 'w', newline='') as fh:
            writer = csv.DictWriter(fh, fieldnames=list(csv_rows[0]))
            writer.writeheader()
            writer.writerows(csv_rows)
        print(f'written: {args.out}.{{md,csv}}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
