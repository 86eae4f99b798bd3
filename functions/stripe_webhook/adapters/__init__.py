"""AWS and Stripe behind the ports (``ports.py``): DynamoDB (the write side, the read side, the
items and their bodies), SNS, S3, Secrets Manager, the Stripe API."""
