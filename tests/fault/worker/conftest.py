"""The worker fault tests reuse the integration tests' worker harness."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration" / "worker"))
