"""What an event means, with no AWS in it: the pipeline that owns the order of steps, routing,
records and their order, the time budget, Stripe's health notice made into the event it stands
for. The handlers (``handlers/``) are its extension point."""
