"""``python -m dacs_ext``: the library's command line (``dacs_ext.cli``)."""

import sys

from .cli import main

sys.exit(main())
