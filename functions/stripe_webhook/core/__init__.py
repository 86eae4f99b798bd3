"""What an event means, with no AWS in it: the pipeline that owns the order of steps, routing,
records and their order, the time budget. The handlers (``handlers/``) are its extension point."""
