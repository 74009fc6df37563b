"""Sustaining a network (mentorNET strategy: regular contact, mutual support, shared goals,
common resources) and showing its quality and impact: one small bot per feature."""

from bots.sustain.buddies import Buddies
from bots.sustain.calendar import Calendar
from bots.sustain.digest import Digest
from bots.sustain.events import Events
from bots.sustain.goals import Goals
from bots.sustain.impact import Impact
from bots.sustain.questions import Questions
from bots.sustain.selfcheck import SelfCheck

SUSTAIN_BOTS = [Goals, Buddies, Questions, Events, Calendar, Digest, SelfCheck, Impact]

__all__ = [
    "SUSTAIN_BOTS",
    "Buddies",
    "Calendar",
    "Digest",
    "Events",
    "Goals",
    "Impact",
    "Questions",
    "SelfCheck",
]
