"""The console: one page for a deployed stack (``make console``, on the operator's machine with
their own AWS credentials) and for the local stack (``make run``'s page, which adds the requests the
webhook answered). docs/console.md."""
