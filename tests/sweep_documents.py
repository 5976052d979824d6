"""A minimal valid sweep document to mutate in tests: 2 norms x 3 batch sizes on the embedded data."""

DELETE = object()  # a change value that removes the key


def minimal_sweep(name="t", **changes):
    """The document with `changes` applied: 'a/b/c' paths -> values (DELETE removes the key)."""
    document = {"sweep": name, "detector": "retinanet", "base": {"replicas": 2},
                "scaling": {"base_batch": 16, "base_steps": 100},
                "blocks": {"scratch": {"grid": {"norm": ["bn", "frn"], "batch": [16, 8, 4]}}}}
    for dotted, value in changes.items():
        node = document
        *parents, leaf = dotted.split("/")
        for key in parents:
            node = node.setdefault(key, {})
        if value is DELETE:
            node.pop(leaf)
        else:
            node[leaf] = value
    return document
