"""Run the Test Suite API: ``python -m unified_api_server.components.test --host --port --db-path``."""

import sys

from unified_api_server.components.test.component import COMPONENT
from unified_api_server.core.web.app import main

sys.exit(main(COMPONENT))
