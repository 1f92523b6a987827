"""Run under ``torchrun --nproc_per_node=2``: each rank takes its half of a fixed global batch,
computes ClipInfoNCE (with a MoCo queue) and PointPatchInfoNCE, backpropagates, and saves its
losses, the gradients of its rows and its queue to ``<out>/rank<r>.pt``."""
import sys

import torch
import torch.distributed as dist

from oneformer3d.robot.models.criteria import ClipInfoNCE, PointPatchInfoNCE


def global_batch():
    g = torch.Generator().manual_seed(0)
    return [torch.randn(8, 16, generator=g) for _ in range(4)]     # a, b, points, patches


def main(out):
    dist.init_process_group('gloo')
    rank, world = dist.get_rank(), dist.get_world_size()
    rows = slice(rank * 8 // world, (rank + 1) * 8 // world)
    a, b, p, q = [x[rows].clone().requires_grad_(True) for x in global_batch()]
    clip = ClipInfoNCE(queue_size=32, dim=16).train()
    point = PointPatchInfoNCE(num_pairs=4096)
    loss_clip = clip(a, b)['loss_nce']
    loss_point = point(p, q)['loss_point_nce']
    (loss_clip + loss_point).backward()
    torch.save(dict(loss_clip=loss_clip.detach(), loss_point=loss_point.detach(),
                    grads=[x.grad for x in (a, b, p, q)], rows=(rows.start, rows.stop),
                    queue=clip.queue.negatives().clone(),
                    logit_scale_grad=clip.logit_scale.grad), f'{out}/rank{rank}.pt')
    dist.destroy_process_group()


if __name__ == '__main__':
    main(sys.argv[1])
