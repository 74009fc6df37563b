"""The command line over every layer: `mentornet` (installed) and `main.py` (checkout)."""
