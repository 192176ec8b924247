"""The dashboard as the browser test serves it: the real page, whose first model choice is the
shipped ``ch2-default`` (``streamlit run tests/e2e/dash_app.py``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from apps.dashboard import main  # noqa: E402

main()
