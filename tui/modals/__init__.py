"""Modal dialogs: confirmations and errors."""
