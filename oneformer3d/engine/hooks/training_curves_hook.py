"""``TrainingCurvesHook``: loss curves and per-encoder fusion weights as PNGs."""
import json
import os.path as osp

from mmengine.hooks import Hook

from oneformer3d.registry import HOOKS


@HOOKS.register_module()
class TrainingCurvesHook(Hook):
    """Record every loss each iteration and, when the model has ``fusion_weights()``, the
    weights every ``interval`` iterations; at the end of training write
    ``<work_dir>/loss_curves.png``, ``<work_dir>/fusion_weights.png`` and the numbers as
    ``<work_dir>/training_curves.json``."""

    priority = 'LOW'

    def __init__(self, interval: int = 1):
        self.interval = interval
        self.losses, self.weights = {}, []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        for k, v in (outputs or {}).items():
            if k.startswith('loss'):
                self.losses.setdefault(k, []).append((runner.iter + 1, float(v)))
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        if hasattr(model, 'fusion_weights') and (runner.iter + 1) % self.interval == 0:
            self.weights.append((runner.iter + 1, model.fusion_weights().tolist()))

    def after_train(self, runner):
        if runner.rank != 0:
            return
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        names = getattr(model, 'names', None)
        fig, ax = plt.subplots(figsize=(6, 4))
        for k, pts in self.losses.items():
            ax.plot([i for i, _ in pts], [v for _, v in pts], label=k)
        ax.set_xlabel('iteration')
        ax.set_ylabel('loss')
        ax.legend()
        fig.tight_layout()
        fig.savefig(osp.join(runner.work_dir, 'loss_curves.png'), dpi=80)
        plt.close(fig)
        if self.weights:
            fig, ax = plt.subplots(figsize=(6, 4))
            its = [i for i, _ in self.weights]
            for e in range(len(self.weights[0][1])):
                label = names[e] if names else f'encoder {e}'
                ax.plot(its, [w[e] for _, w in self.weights], label=label)
            ax.set_xlabel('iteration')
            ax.set_ylabel('fusion weight')
            ax.legend()
            fig.tight_layout()
            fig.savefig(osp.join(runner.work_dir, 'fusion_weights.png'), dpi=80)
            plt.close(fig)
        with open(osp.join(runner.work_dir, 'training_curves.json'), 'w') as fh:
            json.dump(dict(losses=self.losses, fusion_weights=self.weights,
                           encoders=names), fh)
