"""Development tooling, never imported by the runtime: a local Synapse (`homeserver`), the
demo (`demo`, `main.py demo`) and its mail catcher (`mail`), for the tests, the benchmarks
and a newcomer's first run."""
