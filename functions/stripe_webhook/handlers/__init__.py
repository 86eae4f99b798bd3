"""One module per Stripe resource family. Importing this package registers them all."""

from stripe_webhook.handlers import billing, checkout, customers, disputes, money_movement, payments

__all__ = ["billing", "checkout", "customers", "disputes", "money_movement", "payments"]
