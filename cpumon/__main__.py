"""`python -m cpumon`: the same as the `cpumon` command."""

import sys

from cpumon.cli import main

sys.exit(main())
