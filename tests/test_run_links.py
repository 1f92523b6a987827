"""Checkpoints between runs named by run (oneformer3d/engine/run_links.py): the final
checkpoint comes from the named run's own schedule, work_root moves every parent, an explicit
path wins, partial_load becomes the PartialLoadHook the configs used to copy, and a run that
does not exist is a clear error."""
import os.path as osp

import pytest
from mmengine.config import Config

from oneformer3d.engine.run_links import final_checkpoint_name, resolve_run_links
from tests.conftest import REPO


def cfg_of(rel, **options):
    cfg = Config.fromfile(osp.join(REPO, 'configs', rel))
    if options:
        cfg.merge_from_dict(options)
    return cfg


def test_parent_checkpoint_follows_the_parents_own_schedule():
    # the sample's "as long" SV control starts from the 3D+Tiny-SA SV sample run, whose
    # schedule (150 iterations) lives in the sample root, not in the child
    cfg = resolve_run_links(cfg_of('esam/ESAM_sv_3dtsa_long_scannet_sample.py'))
    parent = cfg_of('esam/ESAM_sv_3dtsa_scannet_sample.py')
    assert parent.train_cfg.max_iters == 150
    assert cfg.load_from == 'work_dirs/ESAM_sv_3dtsa_scannet_sample/iter_150.pth'
    assert 'load_from_run' not in cfg and 'partial_load' not in cfg
    # an epoch loop: the full-scale chain
    full = resolve_run_links(cfg_of('esam/ESAM_online_bifusion_scannet200.py'))
    assert full.load_from == 'work_dirs/ESAM_sv_bifusion_scannet200/epoch_160.pth'
    assert final_checkpoint_name(cfg_of('esam/ESAM_sv_3d_scannet200.py')) == 'epoch_128.pth'


def test_partial_load_becomes_one_strict_partial_load_hook_after_the_default_hooks():
    cfg = resolve_run_links(cfg_of('esam/ESAM_online_3dtsa_long_scannet.py'))
    types = [h['type'] for h in cfg.custom_hooks]
    assert types == ['SafeCheckpointHook', 'MetricRunInfoHook', 'DataFallbackHook',
                     'PartialLoadHook']
    hook = cfg.custom_hooks[-1]
    assert hook['checkpoint'] == 'work_dirs/ESAM_online_3dtsa_scannet/epoch_128.pth'
    assert hook['exclude'] == ['memory.conv_convert.*']
    assert (hook['on_mismatch'], hook['max_missing_fraction']) == ('error', 0.0)
    # resolving twice changes nothing (the Runner and a tool may both resolve)
    again = resolve_run_links(cfg)
    assert [h['type'] for h in again.custom_hooks] == types


def test_work_root_moves_every_parent_and_an_explicit_path_wins():
    cfg = resolve_run_links(cfg_of('esam/ESAM_online_3dtsa_long_scannet_sample.py',
                                   work_root='/runs/seed1'))
    assert cfg.load_from == '/runs/seed1/ESAM_sv_3dtsa_long_scannet_sample/iter_188.pth'
    assert cfg.custom_hooks[-1]['checkpoint'] == \
        '/runs/seed1/ESAM_online_3dtsa_scannet_sample/iter_60.pth'
    cfg = cfg_of('esam/ESAM_online_3dtsa_long_scannet_sample.py', load_from='a.pth')
    cfg.partial_load.checkpoint = 'b.pth'
    cfg = resolve_run_links(cfg)
    assert cfg.load_from == 'a.pth' and cfg.custom_hooks[-1]['checkpoint'] == 'b.pth'
    # --resume (load_from None: the work dir's latest) never loads the parent instead
    cfg = cfg_of('esam/ESAM_online_3dtsa_long_scannet_sample.py', resume=True)
    assert resolve_run_links(cfg).load_from is None


def test_module_arguments_name_runs_too():
    # stage 2's rgb_aligned reads stage 1's adapters; stage 3 reads the stage-2 policy that
    # tools/robot/compare_action_inputs.py trains under its own root
    cfg = resolve_run_links(cfg_of('robot/deploy_student_rlbench.py'))
    assert cfg.model.teacher.policy_checkpoint == \
        'work_dirs/compare_actions/action_head_rlbench_rgb_aligned/iter_600.pth'
    cfg = resolve_run_links(cfg_of('robot/action_head_rlbench_rgb_aligned.py'))
    assert cfg.model.token_encoder.checkpoint == \
        'work_dirs/align_point_patch_rlbench/iter_300.pth'


def test_a_run_without_a_config_is_an_error_naming_the_closest():
    cfg = cfg_of('esam/ESAM_sv_3dtsa_long_scannet_sample.py',
                 load_from_run='ESAM_sv_3dtsa_scannet_sampel')
    with pytest.raises(FileNotFoundError, match="did you mean.*ESAM_sv_3dtsa_scannet_sample"):
        resolve_run_links(cfg)
    cfg = cfg_of('esam/ESAM_online_3dtsa_long_scannet_sample.py')
    cfg.partial_load.pop('run')
    with pytest.raises(ValueError, match='neither run nor checkpoint'):
        resolve_run_links(cfg)
