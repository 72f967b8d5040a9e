"""The backend shim's former home, kept for one release: everything is in ``gpudeep.backends``."""

from .backends import *  # noqa: F403
from .backends import __all__  # noqa: F401
