"""One module per Stripe resource family. Importing this package registers them all."""

from stripe_webhook.handlers import balance, customers, disputes, payments

__all__ = ["balance", "customers", "disputes", "payments"]
