"""``python -m sprout``: say whether the broker and the result store answer."""

import sys

from .services import main

sys.exit(main())
