"""The one logger of kvdb.

kvdb logs through `logging.getLogger("kvdb")`, quiet by default: a library
never configures handlers, so nothing is printed unless the application asks.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("kvdb")
logger.addHandler(logging.NullHandler())
