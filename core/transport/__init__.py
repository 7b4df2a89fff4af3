"""Transports: how items reach a mailbox. `base` is the interface; `ews` the EWS implementation."""
