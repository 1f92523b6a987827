"""Test oracle: the official ScanNet instance evaluation written as the official script is
structured (per-GT dicts with matched-prediction lists, per-prediction matched-GT lists,
a ``pred_visited`` table reset per threshold), without any vectorisation. Used only to
cross-check ``oneformer3d.evaluation.functional`` on real scenes."""
import numpy as np

OVERLAPS = np.append(np.arange(0.5, 0.95, 0.05), 0.25)


def _scene(sem, ins, masks, labels, scores, num_classes, min_size):
    sem, ins = np.asarray(sem), np.asarray(ins)
    valid = (sem >= 0) & (sem < num_classes) & (ins > 0)
    gt_ids = np.where(valid, sem * 1000 + ins, 0)
    gt2pred = {c: [] for c in range(num_classes)}
    for gid in np.unique(gt_ids):
        if gid == 0:
            continue
        gt2pred[int(gid // 1000)].append(dict(
            instance_id=int(gid), vert_count=int((gt_ids == gid).sum()), matched_pred=[]))
    void = ~valid
    pred2gt = {c: [] for c in range(num_classes)}
    for k in range(len(labels)):
        c = int(labels[k])
        mask = np.asarray(masks[k]).astype(bool)
        if not (0 <= c < num_classes) or mask.sum() < min_size:
            continue
        p = dict(uid=k, vert_count=int(mask.sum()), confidence=float(scores[k]),
                 void_intersection=int((mask & void).sum()), matched_gt=[])
        for g in gt2pred[c]:
            inter = int((mask & (gt_ids == g['instance_id'])).sum())
            if inter > 0:
                gc, pc = dict(g), dict(p)
                gc['intersection'] = inter
                pc['intersection'] = inter
                g['matched_pred'].append(pc)
                p['matched_gt'].append(gc)
        pred2gt[c].append(p)
    return gt2pred, pred2gt


def official_eval(gt_sems, gt_inss, masks, labels, scores, num_classes, min_size=100):
    scenes = [_scene(*a, num_classes, min_size) for a in zip(gt_sems, gt_inss, masks, labels,
                                                              scores)]
    ap = np.zeros((num_classes, len(OVERLAPS)))
    for oi, th in enumerate(OVERLAPS):
        for c in range(num_classes):
            visited = {}
            y_true, y_score = np.empty(0), np.empty(0)
            hard_fn, has_gt, has_pred = 0, False, False
            for si, (gt2pred, pred2gt) in enumerate(scenes):
                preds = pred2gt[c]
                gts = [g for g in gt2pred[c] if g['vert_count'] >= min_size]
                has_gt |= bool(gts)
                has_pred |= bool(preds)
                cur_true = np.ones(len(gts))
                cur_score = np.ones(len(gts)) * -np.inf
                cur_match = np.zeros(len(gts), dtype=bool)
                for gi, g in enumerate(gts):
                    found = False
                    for p in g['matched_pred']:
                        if visited.get((si, p['uid'])):
                            continue
                        iou = p['intersection'] / (g['vert_count'] + p['vert_count']
                                                   - p['intersection'])
                        if iou > th:
                            if cur_match[gi]:
                                hi = max(cur_score[gi], p['confidence'])
                                lo = min(cur_score[gi], p['confidence'])
                                cur_score[gi] = hi
                                cur_true = np.append(cur_true, 0)
                                cur_score = np.append(cur_score, lo)
                                cur_match = np.append(cur_match, True)
                            else:
                                found = True
                                cur_match[gi] = True
                                cur_score[gi] = p['confidence']
                                visited[(si, p['uid'])] = True
                    if not found:
                        hard_fn += 1
                cur_true, cur_score = cur_true[cur_match], cur_score[cur_match]
                for p in preds:
                    if any(g['intersection'] / (g['vert_count'] + p['vert_count']
                                                - g['intersection']) > th
                           for g in p['matched_gt']):
                        continue
                    ignore = p['void_intersection'] + sum(
                        g['intersection'] for g in p['matched_gt'] if g['vert_count'] < min_size)
                    if ignore / p['vert_count'] <= th:
                        cur_true = np.append(cur_true, 0)
                        cur_score = np.append(cur_score, p['confidence'])
                y_true = np.append(y_true, cur_true)
                y_score = np.append(y_score, cur_score)
            if has_gt and has_pred:
                order = np.argsort(y_score)
                ys, yt = y_score[order], y_true[order]
                cs = np.cumsum(yt)
                _, uidx = np.unique(ys, return_index=True)
                n_true = cs[-1] if len(cs) else 0
                prec, rec = np.zeros(len(uidx) + 1), np.zeros(len(uidx) + 1)
                cs = np.append(cs, 0)
                for k, i in enumerate(uidx):
                    tp = n_true - cs[i - 1]
                    fp = len(ys) - i - tp
                    fn = cs[i - 1] + hard_fn
                    prec[k], rec[k] = tp / (tp + fp), tp / (tp + fn)
                prec[-1], rec[-1] = 1.0, 0.0
                r = np.append(np.append(rec[0], rec), 0.0)
                ap[c, oi] = np.dot(prec, np.convolve(r, [-0.5, 0, 0.5], 'valid'))
            else:
                ap[c, oi] = 0.0 if has_gt else np.nan
    return ap
