"""mentornet from a checkout: `python main.py --help`; installed, the same is `mentornet`
(mentornet/cli.py)."""

from mentornet.cli import COMMANDS, entry, main

__all__ = ["COMMANDS", "main"]

if __name__ == "__main__":
    entry()
