"""Import this once to register every backbone, task and experiment of backbones/ with Model Garden."""
# pylint: disable=unused-import
from backbones import classification, registration  # noqa: F401
