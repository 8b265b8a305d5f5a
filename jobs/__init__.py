"""Per-domain job entry points: each module is a pure ``transform`` plus a thin ``run``/``main``.

Each file also runs as a script: ``spark-submit jobs/<name>.py --env local --run-date D``.
"""
