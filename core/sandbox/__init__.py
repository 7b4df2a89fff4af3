"""The sandbox: a local mailbox server (EWS and Graph front ends on one store) and a PST writer.

It exists for demos and tests: nothing here is used when importing into a real server.
"""
