"""``python -m unified_api_server``: the ``unified-api-server`` command."""

import sys

from unified_api_server.cli import main

sys.exit(main())
