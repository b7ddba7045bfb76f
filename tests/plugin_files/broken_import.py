"""A plugin module whose import fails: only an installed entry point shows how that is reported."""

raise RuntimeError("boom at import")
