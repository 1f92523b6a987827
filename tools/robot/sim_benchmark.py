"""The closed-loop robot benchmark in one command (docs/robot_sim.md).

    python tools/robot/sim_benchmark.py --tasks drawer-open-v3 button-press-topdown-v3 \\
        push-v3 coffee-push-v3 --inputs pc rgb_aligned rgb proprio student \\
        --train-demos 40 --eval-seeds 1000-1049 --train-seeds 3 --work-root work_dirs/sim_bench

Per task: scripted demos on seeds ``0 .. N-1`` (``collect_sim_demos.py``) -> prepare (point
files with the saved teacher, packs, actions; ``prepare_rlbench.py``) -> per training seed:
stage 1 + stage 2 for every input (``compare_action_inputs.py``; the last two demos are its
offline test split) -> stage 3 (``deploy_student_rlbench.py`` on the ``rgb_aligned`` run) ->
closed loop on the evaluation seeds (``eval_closed_loop.py``). Each step is a command of
those tools, printed before it runs; finished steps are reused when the benchmark is run
again with the same work root. Writes ``<work-root>/sim_benchmark.{md,csv}``: success per task
and input, mean over training seeds with the range; prints whether ``proprio`` stays below
30 % per task, the suite-mean ratio ``rgb_aligned / pc`` and the student's success and speed
against its teacher (``rgb_aligned``). ``--target expert_action`` trains every head on the
expert's per-step actions (dense behaviour cloning) instead of next-keyframe poses; the closed
loop then replays them at gain ``1 / action_scale`` (docs/robot_sim.md, "Action interface").
"""
import argparse
import csv
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time


REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(REPO, 'tools')
STAGE2 = {'pc': 'pc', 'rgb_aligned': 'rgb_aligned', 'rgb': 'rgb_raw', 'proprio': 'proprio'}
LINE = re.compile(r'task=(\S+) input=(\S+) success=(\d+)/(\d+) ci95=\[([\d.]+),([\d.]+)\] '
                  r'mean_steps=([\d.]+) policy_ms=([\d.]+) empty_cloud_steps=(\d+)'
                  r'(?: gain=[\d.]+)?')


def run(cmd: list, threads: int) -> str:
    """Run one tool (its command printed first); returns its stdout, prints its last line
    (the tools' summary) and, when it fails, the tails of both streams."""
    cmd = [str(c) for c in cmd]
    print('$ ' + ' '.join(cmd), flush=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable] + cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-5000:])
        raise SystemExit(f'benchmark step failed (exit {proc.returncode}): {" ".join(cmd)}')
    lines = proc.stdout.strip().splitlines()
    if lines:
        print('  ' + lines[-1], flush=True)
    return proc.stdout


def parse_args(argv=None):
    from oneformer3d.robot.preprocessing.action_targets import TARGET_RULES
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--tasks', nargs='+', required=True)
    p.add_argument('--inputs', nargs='+', default=['pc', 'rgb_aligned', 'rgb', 'proprio'],
                   choices=list(STAGE2) + ['student'])
    p.add_argument('--train-demos', type=int, default=40, help='demo seeds 0 .. N-1')
    p.add_argument('--eval-seeds', required=True, help='A-B, disjoint from the demo seeds')
    p.add_argument('--train-seeds', type=int, default=3)
    p.add_argument('--work-root', required=True)
    p.add_argument('--iters', type=int, help='stage-2 iterations (default: the config, 600)')
    p.add_argument('--aligner-iters', type=int, help='stage-1 iterations (default 300)')
    p.add_argument('--student-iters', type=int, help='stage-3 iterations (default 600)')
    p.add_argument('--student-head-weight', type=float,
                   help="stage-3 distillation through the head, model.loss_weights.head "
                        "(default: the config's, 0)")
    p.add_argument('--student-model', help="the student's timm network (default: the "
                                           "config's, mobilenetv3_small_100)")
    p.add_argument('--pack-encoders', nargs='+',
                   default=['rgb=RGBPatchEncoder', 'dino_s=DINOv2:vit_small_patch14_dinov2'])
    p.add_argument('--short-side', type=int, default=98,
                   help='pack encoders input short side (96-px frames; 98 = 7 DINOv2 patches)')
    p.add_argument('--max-steps', type=int, default=200, help='closed-loop episode limit')
    p.add_argument('--gain', type=float, default=10.0,
                   help="the closed loop's proportional controller gain for next-keyframe "
                        "targets (eval_closed_loop.py)")
    p.add_argument('--target', choices=TARGET_RULES, default=TARGET_RULES[0],
                   help="what the heads learn: the next keyframe's pose, or the pose the "
                        "expert's action commands (dense behaviour cloning; the controller "
                        "then replays it at gain 1 / action_scale). docs/robot_sim.md")
    p.add_argument('--keypoints', type=int,
                   help='M: every head with the SpatialSoftmaxKeypoints slot (M maps), the '
                        "student's teacher included; enters the run request")
    p.add_argument('--proprio-noise', type=float,
                   help='std (m) of ProprioNoise in every stage-2 training pipeline; enters '
                        'the run request')
    p.add_argument('--pc-norm', choices=['BN1d'],
                   help="norm on the pc route's input channels (PointTokenEncoder.norm_cfg); "
                        'enters the run request')
    p.add_argument('--workers', type=int, default=2, help='demo collection processes')
    p.add_argument('--threads', type=int, default=2, help='training threads')
    args = p.parse_args(argv)
    if 'student' in args.inputs and 'rgb_aligned' not in args.inputs:
        p.error('the student distils the rgb_aligned run: add rgb_aligned to --inputs')
    names = [spec.split('=')[0] for spec in args.pack_encoders]
    if 'student' in args.inputs and names != ['rgb', 'dino_s']:
        p.error(f'the student config (deploy_student_rlbench.py) distils the packs rgb + dino_s; '
                f'--pack-encoders gives {names}')
    if args.train_demos < 3:
        p.error('--train-demos must be >= 3 (the last two are the offline test split)')
    return args


def prepare_task(args, task: str) -> list:
    """Collect and prepare the task's demos; returns the prepared episode names."""
    from oneformer3d.robot.sim.metaworld_env import CAMERAS, WORKSPACE
    demos, data = osp.join(args.work_root, 'demos'), osp.join(args.work_root, 'data')
    run([osp.join(TOOLS, 'robot/collect_sim_demos.py'), '--task', task, '--seeds',
         f'0-{args.train_demos - 1}', '--out-dir', demos, '--workers', args.workers], 1)
    run([osp.join(TOOLS, 'robot/prepare_rlbench.py'), osp.join(demos, task), '--out-dir', data,
         '--task', task, '--anchor', CAMERAS[0], '--cameras', *CAMERAS, '--workspace',
         *WORKSPACE, '--pack-encoders', *args.pack_encoders, '--short-side', args.short_side,
         '--seed', 0], args.threads)
    eps = sorted((f[:-4] for f in os.listdir(osp.join(data, 'actions', task))
                  if re.fullmatch(r'episode\d+\.npz', f)), key=lambda e: int(e[7:]))
    if len(eps) < 3:
        raise SystemExit(f'{task}: only {len(eps)} demos prepared (the expert failed on the '
                         f'others?); raise --train-demos')
    return eps


def train_seed(args, task: str, eps: list, seed: int) -> dict:
    """Stages 1-3 for one training seed; returns ``{input: run folder}``."""
    data = osp.join(args.work_root, 'data')
    root = osp.join(args.work_root, task, f'seed{seed}')
    check_request(root, dict(iters=args.iters, aligner_iters=args.aligner_iters, episodes=eps,
                             pack_encoders=args.pack_encoders, short_side=args.short_side,
                             **non_default_settings(args)))
    runs = {i: osp.join(root, f'action_head_rlbench_{STAGE2[i]}') for i in args.inputs
            if i in STAGE2}
    todo = [STAGE2[i] for i, d in runs.items() if not osp.isfile(osp.join(d, 'last_checkpoint'))]
    if todo:
        encoders = [f'{s.split("=")[0]}={c}' for s, c in zip(
            args.pack_encoders, pack_channels(args))]
        cmd = [osp.join(TOOLS, 'robot/compare_action_inputs.py'), '--data-root', data, '--task',
               task, '--train-episodes', *eps[:-2], '--test-episodes', *eps[-2:], '--inputs',
               *todo, '--encoders', *encoders, '--work-root', root, '--seed', seed]
        if args.iters:
            cmd += ['--iters', args.iters]
        if args.aligner_iters:
            cmd += ['--aligner-iters', args.aligner_iters]
        cmd += ['--target', args.target]
        if args.keypoints:
            cmd += ['--keypoints', args.keypoints]
        if args.proprio_noise:
            cmd += ['--proprio-noise', args.proprio_noise]
        if args.pc_norm:
            cmd += ['--pc-norm', args.pc_norm]
        run(cmd, args.threads)
    if 'student' in args.inputs:
        student = student_dir(root, args)
        if not osp.isfile(osp.join(student, 'last_checkpoint')):
            teacher_ckpt = open(osp.join(runs['rgb_aligned'], 'last_checkpoint')).read().strip()
            opts = [f'model.teacher.policy_checkpoint={teacher_ckpt}', f'randomness.seed={seed}']
            for spec in args.pack_encoders:
                opts.append(f'model.teacher.encoders.{spec.split("=")[0]}.short_side='
                            f'{args.short_side}')
            for key, split in (('train_dataloader', eps[:-2]), ('val_dataloader', eps[-2:]),
                               ('test_dataloader', eps[-2:])):
                opts += [f'{key}.dataset.data_root={data}', f'{key}.dataset.task={task}',
                         f'{key}.dataset.target={args.target}',
                         f'{key}.dataset.episodes=[{",".join(split)}]',
                         f'{key}.dataset.const_episodes=[{",".join(eps[:-2])}]']
            if args.student_iters:
                n = args.student_iters
                opts += [f'train_cfg.max_iters={n}', f'train_cfg.val_interval={n}',
                         f'default_hooks.checkpoint.interval={n}', f'param_scheduler.T_max={n}']
            if args.student_head_weight is not None:
                opts.append(f'model.loss_weights.head={args.student_head_weight:g}')
            if args.student_model:
                opts.append(f'model.student.model_name={args.student_model}')
            if args.keypoints:
                opts += ['model.teacher.head.keypoints.type=SpatialSoftmaxKeypoints',
                         f'model.teacher.head.keypoints.num_keypoints={args.keypoints}']
            run([osp.join(TOOLS, 'train.py'), osp.join(REPO, 'configs/robot/'
                 'deploy_student_rlbench.py'), '--work-dir', student, '--cfg-options', *opts],
                args.threads)
        runs['student'] = student
    return runs


def non_default_settings(args) -> dict:
    """``{'target': ..., 'keypoints': M, 'proprio_noise': std, 'pc_norm': ...}`` for the
    settings that differ from the default (next-keyframe targets, no keypoint slot, no noise,
    no pc input norm), else ``{}`` (the requests and cell caches of default runs stay as they
    were)."""
    from oneformer3d.robot.preprocessing.action_targets import TARGET_RULES
    out = {} if args.target == TARGET_RULES[0] else dict(target=args.target)
    out.update({k: getattr(args, k) for k in ('keypoints', 'proprio_noise', 'pc_norm')
                if getattr(args, k)})
    return out


def student_dir(root: str, args) -> str:
    """The stage-3 run's folder: ``deploy_student`` for the config's recipe, the options given
    appended otherwise (``deploy_student-lcnet_050-3000it-head10``), so students made with
    other settings sit beside each other and the stage-2 runs they distil are reused."""
    tags = [args.student_model or '',
            f'{args.student_iters}it' if args.student_iters else '',
            f'head{args.student_head_weight:g}' if args.student_head_weight is not None else '']
    return osp.join(root, '-'.join(['deploy_student'] + [t for t in tags if t]))


def check_request(root: str, request: dict) -> None:
    """Finished runs under ``root`` are reused only for the settings that made them
    (``benchmark_request.json``); SystemExit naming the differences otherwise."""
    path = osp.join(root, 'benchmark_request.json')
    if osp.isfile(path):
        with open(path) as fh:
            stored = json.load(fh)
        diff = {k: (stored.get(k), v) for k, v in request.items() if stored.get(k) != v}
        if diff:
            raise SystemExit(f'{path}: the runs there were made with other settings (stored vs '
                             f'asked: {diff}); use another --work-root')
        return
    os.makedirs(root, exist_ok=True)
    with open(path, 'w') as fh:
        json.dump(request, fh)


def pack_channels(args) -> list:
    """Channel count of each pack encoder (built once, as the prepare tool builds them)."""
    import oneformer3d.robot  # noqa: F401
    from mmengine.registry import init_default_scope
    from oneformer3d.robot.preprocessing.prepare_settings import (build_pack_encoders,
                                                                  pack_encoder_configs)
    init_default_scope('oneformer3d')
    encs = build_pack_encoders(pack_encoder_configs(args.pack_encoders, [], args.short_side), 0)
    return [e.feat_shape((96, 96))[0] for e in encs.values()]


def closed_loop(args, task: str, seed: int, runs: dict) -> list:
    """Closed-loop rows of the expert (once per task) and of each run; a row is reused when its
    run folder, checkpoint, evaluation seeds, episode limit and gain are the ones asked
    (``<run>.json`` beside the rollouts' folder)."""
    task_root = osp.join(args.work_root, task)
    cells = [('expert', None, osp.join(task_root, 'closed_loop_expert'))] + [
        (inp, d, osp.join(task_root, f'seed{seed}', 'closed_loop', osp.basename(d)))
        for inp, d in runs.items()]
    rows = []
    for inp, run_dir, out in cells:
        ckpt = None if run_dir is None else osp.basename(
            open(osp.join(run_dir, 'last_checkpoint')).read().strip())
        want = dict(input=inp, run=run_dir and osp.basename(run_dir), checkpoint=ckpt,
                    eval_seeds=args.eval_seeds, max_steps=args.max_steps, gain=args.gain,
                    **non_default_settings(args))
        cache = out + '.json'
        if osp.isfile(cache):
            with open(cache) as fh:
                done = json.load(fh)
            if done['request'] == want:
                rows.append(dict(done['row'], seed=seed))
                print(done['line'], '(reused)', flush=True)
                continue
        cmd = [osp.join(TOOLS, 'robot/eval_closed_loop.py'), '--task', task, '--data-root',
               osp.join(args.work_root, 'data'), '--eval-seeds', args.eval_seeds,
               '--max-steps', args.max_steps, '--gain', args.gain, '--out-dir', out]
        cmd += ['--expert', '--runs'] if run_dir is None else ['--runs', f'{inp}={run_dir}']
        m = LINE.search(run(cmd, 1))
        if m is None:
            raise SystemExit(f'{task} {inp}: eval_closed_loop.py printed no result line')
        print(m.group(0), flush=True)
        row = dict(task=m.group(1), input=m.group(2), rate=int(m.group(3)) / int(m.group(4)),
                   trials=int(m.group(4)), policy_ms=float(m.group(8)),
                   mean_steps=float(m.group(7)))
        with open(cache, 'w') as fh:
            json.dump(dict(request=want, row=row, line=m.group(0)), fh)
        rows.append(dict(row, seed=seed))
    return rows


def report(args, rows: list) -> None:
    """The table (success % mean [min–max] over training seeds), the proprio test per task and
    the suite's answer (:mod:`oneformer3d.robot.evaluation.closed_loop_report`); writes
    ``<work-root>/sim_benchmark.{md,csv}``."""
    from oneformer3d.robot.evaluation.closed_loop_report import (interval_lines, proprio_lines,
                                                                 suite_lines, suite_of,
                                                                 success_table)
    md, table, csv_rows = success_table(rows, args.tasks, ['expert'] + list(args.inputs))
    print(md)
    with open(osp.join(args.work_root, 'sim_benchmark.md'), 'w') as fh:
        fh.write(f'success % (mean [min–max] over {args.train_seeds} training seeds), '
                 f'eval seeds {args.eval_seeds}, {args.train_demos} demos per task, '
                 f'target {args.target}\n\n{md}\n')
    with open(osp.join(args.work_root, 'sim_benchmark.csv'), 'w', newline='') as fh:
        writer = csv.DictWriter(fh, fieldnames=list(csv_rows[0]))
        writer.writeheader()
        writer.writerows(csv_rows)
    for line in (proprio_lines(table, args.tasks) + suite_lines(table, args.tasks, rows) +
                 interval_lines(rows, suite_of(table, args.tasks))):
        print(line)


def main(argv=None):
    args = parse_args(argv)
    import oneformer3d.robot.sim  # noqa: F401  (OpenGL backend before mujoco loads)
    from oneformer3d.robot.sim.metaworld_env import check_task, parse_seeds
    for task in args.tasks:
        try:
            check_task(task)
        except ValueError as err:
            raise SystemExit(str(err)) from None
    overlap = sorted(set(parse_seeds(args.eval_seeds)) & set(range(args.train_demos)))
    if overlap:
        raise SystemExit(f'--eval-seeds {args.eval_seeds} overlaps the demo seeds '
                         f'0-{args.train_demos - 1} (seeds {overlap[:5]}...)')
    t0, rows = time.time(), []
    for task in args.tasks:
        eps = prepare_task(args, task)
        for seed in range(args.train_seeds):
            rows += closed_loop(args, task, seed, train_seed(args, task, eps, seed))
    report(args, rows)
    print(f'time_s={time.time() - t0:.0f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
