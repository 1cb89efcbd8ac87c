"""``python -m tuntap_cffi``: see :mod:`tuntap_cffi.cli`."""

import sys

from .cli.main import main

sys.exit(main())
