"""The repository as a user reads it: every relative link of the README and docs resolves, the
README stays short, the robot stack is a package the 3D package does not import, and configs
name other runs' checkpoints by run, not by path."""
import glob
import os.path as osp
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')


def markdown_files():
    files = [osp.join(REPO, 'README.md'), osp.join(REPO, 'CHANGELOG.md')]
    files += glob.glob(osp.join(REPO, 'docs', '**', '*.md'), recursive=True)
    files += glob.glob(osp.join(REPO, 'configs', '**', 'README.md'), recursive=True)
    return sorted(files)


def anchors_of(path):
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    for line in open(path, encoding='utf-8'):
        m = re.match(r'#+\s+(.*)', line)
        if m:
            text = re.sub(r'[^\w\- ]', '', m.group(1).strip().lower())
            out.add(text.replace(' ', '-'))
    return out


@pytest.mark.parametrize('md', markdown_files(), ids=lambda p: osp.relpath(p, REPO))
def test_every_relative_link_resolves(md):
    bad = []
    text = open(md, encoding='utf-8').read()
    # links inside code blocks are commands, not links
    text = re.sub(r'```.*?```', '', text, flags=re.S)
    for target in LINK.findall(text):
        if re.match(r'[a-z]+://', target) or target.startswith('mailto:'):
            continue
        path, _, anchor = target.partition('#')
        full = osp.normpath(osp.join(osp.dirname(md), path)) if path else md
        if not osp.exists(full):
            bad.append(f'{target}: no file {osp.relpath(full, REPO)}')
        elif anchor and full.endswith('.md') and anchor not in anchors_of(full):
            bad.append(f'{target}: no heading #{anchor} in {osp.relpath(full, REPO)}')
    assert not bad, f'{osp.relpath(md, REPO)}: ' + '; '.join(bad)


def test_readme_is_short_and_names_the_two_commands():
    text = open(osp.join(REPO, 'README.md'), encoding='utf-8').read()
    assert len(text.splitlines()) <= 200
    assert 'make demo' in text and 'make test' in text
    # CI runs the README's test command
    assert 'make test' in open(osp.join(REPO, '.ci', 'run')).read()


def test_the_3d_package_does_not_import_the_robot_stack():
    # no source file outside oneformer3d/robot refers to it ...
    offenders = []
    for path in glob.glob(osp.join(REPO, 'oneformer3d', '**', '*.py'), recursive=True):
        rel = osp.relpath(path, REPO)
        if rel.startswith(osp.join('oneformer3d', 'robot')):
            continue
        if re.search(r'oneformer3d\.robot|from \.+robot|import robot', open(path).read()):
            offenders.append(rel)
    assert not offenders
    # ... no robot file is left in the 3D folders ...
    left = [p for p in glob.glob(osp.join(REPO, 'oneformer3d', '**', '*.py'), recursive=True)
            if re.search(r'rlbench|feature_packs|info_nce|action_metric|retrieval_metric|'
                         r'keyframes|pack_builder|/alignment/|/policy/', p)
            and '/robot/' not in p]
    assert not left
    # ... and importing every 3D module (which registers them all) leaves it unloaded
    code = ('import sys, oneformer3d, oneformer3d.models, oneformer3d.datasets, '
            'oneformer3d.evaluation, oneformer3d.engine, oneformer3d.geometry; '
            'assert not [m for m in sys.modules if m.startswith("oneformer3d.robot")]; '
            'import oneformer3d.robot; from oneformer3d.registry import MODELS; '
            'assert MODELS.get("ActionHead") is not None')
    res = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]



def test_at_most_one_config_names_another_runs_checkpoint():
    """Checkpoints between runs are named by run (load_from_run / partial_load), so no config
    hard-codes another run's work-dir path or its final checkpoint's file name."""
    hits = []
    for path in glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True):
        for line in open(path):
            code = line.split('#', 1)[0]
            if re.search(r"work_dirs/[^'\"]*\.pth|(epoch|iter)_\d+\.pth", code):
                hits.append(osp.relpath(path, REPO))
    assert len(set(hits)) <= 1, sorted(set(hits))
