"""The training probes: budgets, the batches they feed, the short training run, overfitting one batch, the
learning-rate range test, evaluation, recorders, which tensors can learn, and the fixed thread count.

Probes train fresh copies from the user's factory, never the user's weights; they are deterministic (fixed
thread count, step counts; time caps are safety nets). This package re-exports nothing.
"""
