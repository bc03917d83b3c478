"""`python -m devices`: the device simulator."""

import sys

from devices.cli import main

sys.exit(main())
