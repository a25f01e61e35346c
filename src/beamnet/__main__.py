"""``python -m beamnet``: see :mod:`beamnet.cli`."""

import sys

from beamnet.cli import main

sys.exit(main())
