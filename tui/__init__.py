"""pstimport's Textual interface. It drives `core` and never imports exchangelib or pypff."""
