"""Releases the gradient functions `tf.custom_gradient` registered while a finished cell's graphs were traced.

In graph mode (inside every tf.function) `tf.custom_gradient` registers its gradient closure in
TensorFlow's global gradient registry under a new name, "CustomGradient-<uid>", and never removes
it; the closure holds the forward pass's symbolic tensors and with them the whole traced graph
(TensorFlow 2.20, tensorflow/python/ops/custom_gradient.py `_graph_mode_decorator`). FRN's fused op
(norm_layers/frn_ops.py) is one such function, so a process that builds one model after another
(sweep/execution/cell_worker.py) kept every FRN cell's train and eval graphs: about 185 MiB per
embedded RetinaNet cell. Dropping a finished cell's entries lets its graphs be collected.
"""
from tensorflow.python.framework import ops

PREFIX = "CustomGradient-"  # custom_gradient.generate_name()


def _registry():
    return ops._gradient_registry._registry  # pylint: disable=protected-access  (no public way to unregister)


def custom_gradient_names():
    """The names of the custom gradients registered so far (a snapshot for `release_since`)."""
    return {name for name in _registry() if name.startswith(PREFIX)}


def release_since(snapshot):
    """Unregisters the custom gradients registered after `snapshot`; returns how many. Only for graphs
    that are finished with: differentiating one of them afterwards would find no gradient."""
    registry = _registry()
    added = [name for name in registry if name.startswith(PREFIX) and name not in snapshot]
    for name in added:
        del registry[name]
    return len(added)
