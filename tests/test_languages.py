"""English, German, French and Dutch through a real homeserver: a person's `!lang`, plurals
by the language's rules, check-in schedules in French and Dutch words, and a welcome in the
language given at the invitation."""

from __future__ import annotations

from tests.checkin_helpers import make_team
from tests.network_helpers import create_network, direct_chat, invited_rooms, notice_in
from tests.people import Person
from tests.test_permissions import own_direct_chat


async def test_french_and_dutch_answers_with_plurals_and_schedules(mentornet, person) -> None:
    team = await make_team(mentornet, person, names=())
    meta, office = team.meta, team.office

    switched = await meta.ask(office, "!lang fr")
    assert switched.body == "Désormais, je te réponds en français."
    one = await meta.ask(office, "!checkin stats weeks:1")
    assert one.body.endswith("n'a eu aucun tour de check-in la semaine dernière.")
    four = await meta.ask(office, "!checkin stats weeks:4")
    assert four.body.endswith("n'a eu aucun tour de check-in ces 4 dernières semaines.")
    weekly = await meta.ask(office, "!checkin schedule tous les lundis 18:00")
    assert "**chaque lundi à 18:00**" in weekly.body, weekly.body
    added = await meta.ask(office, '!checkin question add "Combien de rencontres as-tu eues ?"')
    assert "le check-in a maintenant 4 questions" in added.body, added.body

    unknown = await meta.ask(office, "!lang xx")
    assert "Utilisation" in unknown.body and "en, de, fr, nl" in unknown.body
    overview = await meta.ask(office, "!help")
    assert "Langues : English (en), Deutsch (de), Français (fr), Nederlands (nl)" in overview.body
    basics = await meta.ask(office, "!help general")
    assert "!lang [en|de|fr|nl]" in basics.body
    assert "English (en), Deutsch (de), Français (fr), Nederlands (nl)" in overview.body

    dutch = await meta.ask(office, "!lang nl")
    assert dutch.body == "Vanaf nu antwoord ik je in het Nederlands."
    fortnight = await meta.ask(office, "!checkin schedule om de 2 weken op donderdag 18:30")
    assert "**om de 2 weken op donderdag om 18:30**" in fortnight.body, fortnight.body
    refused = await meta.ask(office, "!checkin schedule elke funday 18:00")
    assert "een weekdag zoals maandag of do (niet “funday”)" in refused.body
    assert "`elke maandag 18:00`" in refused.body  # the forms it knows, in Dutch
    stored = team.rows("SELECT rule FROM checkin_settings")
    assert stored == [("every 2 weeks on thu 18:30",)], stored


async def test_welcome_in_the_language_given_at_the_invitation(mentornet, person) -> None:
    bot = await mentornet()
    meta: Person = await person(name="metamentor")
    lea: Person = await person(name="lea", encryption=True)
    joost: Person = await person(name="joost", encryption=True)
    net = await create_network(bot, meta)
    agreement = await meta.ask(net.office, '!network agreement set "We meet once a month."')
    assert "Version 1" in agreement.body, agreement.body

    invited = await meta.ask(net.office, f"!network invite {lea.user_id} lang:fr")
    assert "welcome with the rules and the agreement in French" in invited.body, invited.body
    chat = await direct_chat(lea, bot.user_id)
    welcome = await notice_in(lea, chat, "Bienvenue dans Hamburg Mentors")
    assert "t'a invité(e) dans ce réseau de mentorat comme nouveau mentor" in welcome.body
    prompt = await notice_in(lea, chat, "Charte de Hamburg Mentors")
    assert "Pour l'accepter, réagis avec ✅ à ce message" in prompt.body

    await meta.ask(net.office, f"!network invite {joost.user_id} lang:nl")
    chat = await direct_chat(joost, bot.user_id)
    welkom = await notice_in(joost, chat, "Welkom bij Hamburg Mentors")
    assert "heeft je uitgenodigd in dit mentornetwerk als nieuwe mentor" in welkom.body
    prompt = await notice_in(joost, chat, "Overeenkomst van Hamburg Mentors")
    assert "Om ze te aanvaarden, reageer je met ✅" in prompt.body

    # A network's own language names its rooms.
    created = await meta.ask(net.office, '!network create "Mentoren Gent" lang:nl')
    assert "(language: Dutch)" in created.body, created.body
    names = {"general": "Mentoren Gent – Algemeen", "resources": "Mentoren Gent – Materiaal"}
    assert set(await invited_rooms(meta, names)) == {"general", "resources"}


async def test_one_rule_picks_the_language_of_every_reply(mentornet, person) -> None:
    """Own `!lang`, else the language given at the invitation, else the room's (a network's
    rooms speak the network's), else the instance default (English here)."""
    bot = await mentornet()
    meta: Person = await person(name="metamentor")
    plain: Person = await person(name="plain", encryption=True)  # invited with no language
    lea: Person = await person(name="lea", encryption=True)  # invited with French
    start = await bot.room_with(meta)
    made = await meta.ask(start, '!network create "Mentoren Köln" lang:de')
    assert "is ready" in made.body, made.body  # the room where it was asked has no language
    rooms = dict(bot.app.store.db.execute("SELECT purpose, room_id FROM network_rooms"))
    for who, given in ((plain, ""), (lea, " lang:fr")):
        invited = await meta.ask(start, f"!network invite {who.user_id} mentor-novice{given}")
        assert "Invited" in invited.body, invited.body
        await who.join(rooms["general"])

    async def goals(who: Person, room: str) -> str:
        return (await who.ask(room, '!goals network:"Mentoren Köln"')).body

    plain_dm = await own_direct_chat(plain, bot.user_id)
    assert "has no shared goals yet" in await goals(plain, plain_dm)  # not the network's
    assert "hat noch keine gemeinsamen Ziele" in await goals(plain, rooms["general"])
    lea_dm = await own_direct_chat(lea, bot.user_id)
    assert "n'a pas encore d'objectifs communs" in await goals(lea, lea_dm)
    assert "n'a pas encore d'objectifs communs" in await goals(lea, rooms["general"])
    await lea.ask(rooms["general"], "!lang nl")
    assert "heeft nog geen gezamenlijke doelen" in await goals(lea, rooms["general"])
    assert "heeft nog geen gezamenlijke doelen" in await goals(lea, lea_dm)
