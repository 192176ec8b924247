"""The dashboard as the browser test serves it: the real page plus the small fake generator.

``streamlit run tests/e2e/dash_app.py``; uses the real ``invdesign.design``, and
a stand-in descriptor function while ``objectives.describe_batch`` is not merged.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from apps.dashboard import main  # noqa: E402
from tests.dashboard_fake import ensure_describe, make_generator  # noqa: E402

ensure_describe()

main({"fake-3phase": make_generator})
