"""Network check-ins (`!checkin …`): scheduled, in each mentor's language and time zone."""

from bots.checkin.bot import Checkin

__all__ = ["Checkin"]
