# Route 2 with a mixture-of-experts fusion (per-token gates, Switch load balancing).
_base_ = ['./distill_rgb2pc_rlbench.py']
model = dict(fusion=dict(_delete_=True, type='MoEFusion', gate='token', balance_weight=0.01))
