"""Receive Stripe webhooks on AWS Lambda: verify, dedup, route, store in DynamoDB, publish to SNS."""
