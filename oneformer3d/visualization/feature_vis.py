"""Feature visualisation with scikit-learn (PCA, t-SNE) and matplotlib (Agg backend)."""
import os
import os.path as osp
from typing import Optional

import numpy as np
import torch


def pca_rgb(feats: np.ndarray, fit_on: Optional[np.ndarray] = None) -> np.ndarray:
    """(N, C) features -> (N, 3) colours in 0..1: first three principal components, each
    stretched between its 1st and 99th percentile."""
    from sklearn.decomposition import PCA
    feats = np.asarray(feats, dtype=np.float32)
    ref = feats if fit_on is None else np.asarray(fit_on, dtype=np.float32)
    n = min(3, ref.shape[1], max(ref.shape[0] - 1, 1))
    comp = PCA(n_components=n, random_state=0).fit(ref).transform(feats)
    if comp.shape[1] < 3:
        comp = np.concatenate([comp, np.zeros((len(comp), 3 - comp.shape[1]))], axis=1)
    lo, hi = np.percentile(comp, 1, axis=0), np.percentile(comp, 99, axis=0)
    return np.clip((comp - lo) / np.maximum(hi - lo, 1e-8), 0, 1)


def _figure(ncols: int, width: float = 5.0):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt, plt.subplots(1, ncols, figsize=(width * ncols, width * 0.8))


def save_feature_pca_png(img: np.ndarray, pix: torch.Tensor, path: str, title: str = '') -> str:
    """The image beside the PCA colouring of its (C, H_f, W_f) feature map; returns ``path``."""
    c, hf, wf = pix.shape
    rgb = pca_rgb(pix.float().reshape(c, -1).T.numpy()).reshape(hf, wf, 3)
    plt, (fig, axes) = _figure(2)
    axes[0].imshow(img)
    axes[0].set_title('image')
    axes[1].imshow(rgb, interpolation='nearest')
    axes[1].set_title(f'PCA of features {c}x{hf}x{wf}')
    for ax in axes:
        ax.axis('off')
    fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def save_point_feature_png(xyz: np.ndarray, feats: np.ndarray, path: str,
                           labels: Optional[np.ndarray] = None, tsne_points: int = 2000,
                           title: str = '', seed: int = 0) -> str:
    """Top-down view of points coloured by the PCA of their features, and a t-SNE of a
    subset coloured by ``labels`` (or by the same PCA colours); returns ``path``."""
    from sklearn.manifold import TSNE
    colours = pca_rgb(feats)
    rng = np.random.default_rng(seed)
    sub = rng.choice(len(feats), min(tsne_points, len(feats)), replace=False)
    emb = TSNE(n_components=2, init='pca', random_state=seed,
               perplexity=min(30, max(2, len(sub) // 4))).fit_transform(feats[sub])
    plt, (fig, axes) = _figure(2)
    axes[0].scatter(xyz[:, 0], xyz[:, 1], c=colours, s=1)
    axes[0].set_aspect('equal')
    axes[0].set_title('points, top-down: PCA of 2D features')
    if labels is not None:
        axes[1].scatter(emb[:, 0], emb[:, 1], c=labels[sub], cmap='tab20', s=3)
        axes[1].set_title('t-SNE, coloured by semantic label')
    else:
        axes[1].scatter(emb[:, 0], emb[:, 1], c=colours[sub], s=3)
        axes[1].set_title('t-SNE, coloured by PCA')
    fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
