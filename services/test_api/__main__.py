"""Run the Test Suite API: ``python -m services.test_api --host --port --db-path``."""

import sys

from services.core.app import main
from services.test_api.component import COMPONENT

sys.exit(main(COMPONENT))
