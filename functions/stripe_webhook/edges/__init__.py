"""How events arrive and answers leave: API Gateway's and EventBridge's shapes, and the
signature. The Lambda entry points that call them are ``app.py``."""
