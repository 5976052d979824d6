"""Import this once to register the backbones, the detection tasks and every experiment."""
# pylint: disable=unused-import
import backbones.registry_imports  # noqa: F401
from detection import experiments, tasks  # noqa: F401
