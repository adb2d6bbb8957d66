"""``python -m controlroom``: the same as the ``controlroom`` console script."""

import sys

from controlroom.launch import main

sys.exit(main())
