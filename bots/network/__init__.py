"""The Meta-Mentor assistant (`!network …`) and the privacy commands (`!me …`)."""

from bots.network.bot import Network
from bots.network.privacy import Privacy

__all__ = ["Network", "Privacy"]
