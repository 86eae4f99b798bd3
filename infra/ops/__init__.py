"""Tools for operating a deployed stack: one module per command, the shared stack context, and cost.

cli.py            python -m infra.ops COMMAND (argument parsing, errors without tracebacks)
stack.py          the stack's outputs and parameters → the function's Settings; Context
register.py       register (and the endpoint/secret helpers rotation shares)
rotate_secret.py  rotate-secret [--finish]
backfill.py       backfill [--resume]
redrive.py        redrive
status.py         status
progress.py       progress lines and time arguments
cost.py           python -m infra.ops.cost: cost per million events (template.yaml + measured.json)
"""
