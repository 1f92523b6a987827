"""The results table of ``tools/ablation.py``: one row per route and mode, the metrics' mean
and range over seeds, as markdown, csv and a bar chart."""
import csv
import os
import os.path as osp

from .ablation import ROUTES

AGNOSTIC = ('ca_ap', 'ca_ap50', 'ca_ap25', 'mCov', 'mRec')   # class-agnostic metrics
AWARE = ('ap', 'ap50', 'ap25')                               # class-aware (when predicted)


def vs_control(key: str) -> str:
    """The table's text for a row's declared difference from its control."""
    r = ROUTES[key]
    if r.control is None:
        return r.change
    c = ROUTES[r.control]
    return f'{c.label} {c.mode} {r.change}'


def fmt(v, spec='.3f'):
    return '-' if v is None else format(v, spec)


def aggregate(rows: list) -> list:
    """One entry per row key: the metrics' mean and (min, max) over its seeds."""
    out = {}
    for r in rows:
        out.setdefault(r['key'], []).append(r)
    merged = []
    for runs in out.values():
        m = dict(runs[0], seeds=[r['seed'] for r in runs])
        for k in AGNOSTIC + AWARE + ('s_per_iter',):
            vals = [r[k] for r in runs if r[k] is not None]
            m[k] = (sum(vals) / len(vals), min(vals), max(vals)) if vals else None
        merged.append(m)
    return merged


def fmt_stat(v, spec='.3f') -> str:
    if v is None:
        return '-'
    mean, lo, hi = v
    return fmt(mean, spec) if lo == hi else f'{fmt(mean, spec)} ({fmt(lo, spec)}-{fmt(hi, spec)})'


def write_outputs(rows: list, work_root: str) -> str:
    """``ablation.md`` (mean and range over seeds) / ``ablation.csv`` (one line per seed and
    row) / ``ablation.png`` under the folder ``work_root``; returns the markdown table."""
    root = work_root
    os.makedirs(root, exist_ok=True)
    merged = aggregate(rows)
    head = ('| route | SV/MV | vs control | AP | AP50 | AP25 | mCov | mRec | AP (cls) | '
            'AP50 (cls) | AP25 (cls) | s/iter | params trainable / total | seeds | config | '
            'commit |')
    lines = [head, '|' + '---|' * 16]
    for r in merged:
        lines.append(
            f"| {r['route']} | {r['mode']} | {r['vs_control']} | "
            + ' | '.join(fmt_stat(r[m]) for m in AGNOSTIC + AWARE)
            + f" | {fmt_stat(r['s_per_iter'], '.2f')} | {r['params_trainable']:,} / "
            f"{r['params_total']:,} | {' '.join(map(str, r['seeds']))} | "
            f"{osp.basename(r['config'])} | {r['commit']} |")
    table = '\n'.join(lines)
    with open(osp.join(root, 'ablation.md'), 'w') as fh:
        fh.write(table + '\n')
    fields = list(rows[0])
    with open(osp.join(root, 'ablation.csv'), 'w', newline='') as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    plot(merged, osp.join(root, 'ablation.png'))
    return table


def plot(rows: list, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    names = [f"{r['route']} ({r['mode']})" for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(rows)), 4))
    for i, (m, label) in enumerate(zip(AGNOSTIC[:3], ('AP', 'AP50', 'AP25'))):
        mean = np.array([r[m][0] for r in rows])
        err = np.array([[r[m][0] - r[m][1], r[m][2] - r[m][0]] for r in rows]).T
        ax.bar(x + (i - 1) * 0.27, mean, 0.27, yerr=err, capsize=2, label=label)
    ax.set_xticks(x, names, rotation=30, ha='right')
    ax.set_ylim(0, 1)
    ax.set_ylabel('class-agnostic instance AP')
    ax.legend()
    ax.set_title(f"ablation ({rows[0]['commit']})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
