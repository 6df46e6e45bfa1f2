"""Run the Benchmark API: ``python -m unified_api_server.components.benchmark --host --port --db-path``."""

import sys

from unified_api_server.components.benchmark.component import COMPONENT
from unified_api_server.core.web.app import main

sys.exit(main(COMPONENT))
