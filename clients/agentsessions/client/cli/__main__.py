"""`python -m agentsessions.client.cli`: the command line without the server installed."""

import sys

from agentsessions.client.cli import main

sys.exit(main())
