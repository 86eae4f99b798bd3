"""Performance: the benchmark (``python -m infra.bench``) and the burst load tool (``infra.bench.burst``).

benchmark.py    orchestration, the report table and the budgets (exit 1 when one is missed)
environment.py  the AWS endpoint in its own process, the function's environment, signed requests
cold.py         cold starts and a warm container's peak memory, in fresh interpreters
warm.py         warm CPU per event: ours, the floor, the naive tutorial (child processes)
package.py      the zipped ``sam build`` artifact
programs/       the scripts fresh interpreters run (cold starts, warm memory)
burst.py        concurrent load over HTTP with the lost/doubled check (``make burst``)
"""
