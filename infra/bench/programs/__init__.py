"""The programs the benchmark runs in fresh interpreters, as scripts (so no package import is timed)."""
