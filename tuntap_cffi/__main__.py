"""``python -m tuntap_cffi``: see :mod:`tuntap_cffi.cli`."""

import sys

from .cli import main

sys.exit(main())
