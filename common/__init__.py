"""common/: facts and utilities below every other package (no TensorFlow at import time).

paths (repository, results and runs roots), the legacy-Keras switch, the 12 COCO stat names,
the batch-vs-replicas rule and atomic storage. Imports nothing of this repository.
"""
