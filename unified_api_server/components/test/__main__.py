"""Run the Test Suite API: ``python -m unified_api_server.components.test --host --port --db-path``."""

import sys

from unified_api_server.core.web.app import main
from unified_api_server.components.test.component import COMPONENT

sys.exit(main(COMPONENT))
