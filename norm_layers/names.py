"""The names of the norm table and the activations, importable without TensorFlow.

Sweep configs are validated against these before any model (or TensorFlow) is loaded;
norm_layers.registry checks at import that its table has exactly these names.
"""
NORM_NAMES = ("bn", "sync_bn", "frozen_bn", "batch_renorm", "gn", "ln", "in",
              "frn", "frn_relu", "frn_learned_eps", "evonorm_b0", "evonorm_s0", "gn_ws", "none")
ACTIVATION_NAMES = ("relu", "tlu", "prelu", "linear")
