"""`python -m alert_gateway`."""

import sys

from .cli import main

sys.exit(main())
