"""What a result records of where it ran: package versions and the CPU (no TensorFlow).

AP moves with the CPU (bitwise-different kernels; README "Reproducibility"), so every result names
the machine and the versions it came from.
"""
import os
import platform
from importlib import metadata

PACKAGES = ("tensorflow", "tf-keras", "tf-models-official", "numpy", "pycocotools")


def versions():
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def machine():
    """The CPU model and core count: AP moves with the CPU (bitwise-different kernels), so every
    result names the machine it came from."""
    model = platform.processor() or None
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "system": platform.system()}
