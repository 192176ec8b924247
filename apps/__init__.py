"""User-facing apps (the Streamlit dashboard), thin layers over the ``invdesign`` API."""
