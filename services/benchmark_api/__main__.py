"""Run the Benchmark API: ``python -m services.benchmark_api --host --port --db-path``."""

import sys

from services.benchmark_api.component import COMPONENT
from services.core.app import main

sys.exit(main(COMPONENT))
