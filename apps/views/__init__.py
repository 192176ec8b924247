"""Sections of the dashboard page, each a plain function of the session state (driven by AppTest)."""
