"""How events arrive and answers leave: API Gateway's and EventBridge's shapes, the
signature, the health check. The Lambda entry points that call them are ``app.py``."""
