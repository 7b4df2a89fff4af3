"""pstimport core: everything but the user interface (no Textual here, ever)."""

__version__ = "0.1.0"
