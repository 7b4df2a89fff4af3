"""One module per wizard step, plus the welcome, run and summary screens."""
