"""Run the Generator API: ``python -m unified_api_server.components.generator --host --port --db-path``."""

import sys

from unified_api_server.components.generator.component import COMPONENT
from unified_api_server.core.web.app import main

sys.exit(main(COMPONENT))
