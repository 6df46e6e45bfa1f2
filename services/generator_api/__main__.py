"""Run the Generator API: ``python -m services.generator_api --host --port --db-path``."""

import sys

from services.core.app import main
from services.generator_api.component import COMPONENT

sys.exit(main(COMPONENT))
