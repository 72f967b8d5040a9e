"""``python -m gpudeep`` runs the ``gpudeep`` command."""

import sys

from .cli import main

sys.exit(main())
