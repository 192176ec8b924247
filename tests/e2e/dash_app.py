"""The dashboard as the browser test serves it: the real page plus the small fake generator.

``streamlit run tests/e2e/dash_app.py``; uses the real ``invdesign.design`` when it exists, else
the test stand-in (until the design API is merged).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import invdesign  # noqa: E402
from apps.dashboard import main  # noqa: E402
from tests.dashboard_fake import make_generator, stand_in_design  # noqa: E402

if not hasattr(invdesign, "design"):
    invdesign.design = stand_in_design

main({"fake-3phase": make_generator})
