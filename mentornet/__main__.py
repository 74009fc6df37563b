"""`python -m mentornet`, the same as the installed `mentornet` command."""

from mentornet.cli import entry

entry()
