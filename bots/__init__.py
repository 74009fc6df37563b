"""The bots of a mentornet instance. Each is a `core.commands.Bot` with its own commands."""

from bots.checkin import Checkin
from bots.general import General
from bots.network import Network, Privacy
from bots.resources import ResourceBot
from bots.sustain import SUSTAIN_BOTS
from directory.bot import DirectoryBot

BOTS = [General, DirectoryBot, Network, Privacy, Checkin, *SUSTAIN_BOTS, ResourceBot]
