"""The rule that ties a global batch to its replicas: each replica gets batch / replicas images."""


def batch_problem(batch, replicas):
    """Why `batch` cannot be split over `replicas` (one sentence naming both), or None when it can."""
    if batch < replicas or batch % replicas:
        return (f"{batch} is not divisible by the {replicas} replicas; valid: a positive multiple of "
                f"{replicas}")
    return None
