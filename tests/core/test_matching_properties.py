"""Property tests: random joins, skips, leaves and clock ticks never break the
rules of docs/design.md §4, and nobody is left waiting beside a compatible stranger.

The checks use an oracle written from the rules, not from the matchmaker's
indexes: a ticket's level comes from how long it has waited, and two tickets
accept each other when they share an interest, or both accept their language
and it is the same, or both accept anyone.
"""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from strangers.core.matching import Level, Matchmaker, MatchRules, Ticket
from strangers.core.messages import AgeBand, Mode
from strangers.core.pools import pool_for

RULES = MatchRules(interest_timeout=10.0, language_timeout=5.0, repair_cooldown=60.0)
SESSIONS = [f"s{i}" for i in range(12)]
DEVICES = [f"d{i}" for i in range(8)]
BLOCKED = {frozenset(("d0", "d1")), frozenset(("d2", "d5"))}


def level(ticket: Ticket, now: float) -> Level:
    language_at = ticket.joined_at + (RULES.interest_timeout if ticket.interests else 0.0)
    if now >= language_at + RULES.language_timeout:
        return Level.ANYONE
    return Level.LANGUAGE if now >= language_at else Level.INTERESTS


def accept(a: Ticket, b: Ticket, now: float) -> bool:
    if a.interests & b.interests:
        return True
    la, lb = level(a, now), level(b, now)
    if min(la, lb) == Level.ANYONE:
        return True
    return min(la, lb) >= Level.LANGUAGE and a.language == b.language


class MatchmakerMachine(RuleBasedStateMachine):
    @initialize()
    def start(self):
        self.now = 0.0
        self.mm = Matchmaker(RULES, blocked=lambda a, b: frozenset((a, b)) in BLOCKED)
        self.device_of: dict[str, str] = {}
        self.waiting: dict[str, Ticket] = {}
        self.partner: dict[str, str] = {}
        self.last_met: dict[frozenset[str], float] = {}
        self.serial = 0

    def record(self, pairs):
        for pair in pairs:
            a, b = pair.a, pair.b
            assert a.pool == b.pool, "paired across pools"
            assert a.session != b.session and a.device != b.device, "paired with itself"
            assert frozenset((a.device, b.device)) not in BLOCKED, "blocked pair"
            met = self.last_met.get(frozenset((a.device, b.device)))
            assert met is None or self.now - met >= RULES.repair_cooldown, "re-paired too soon"
            for side in (a, b):
                assert self.waiting.get(side.session) == side, "paired a ticket not waiting"
                assert side.session not in self.partner, "in two matches"
            assert set(pair.common) == set(a.interests & b.interests)
            self.last_met[frozenset((a.device, b.device))] = self.now
            del self.waiting[a.session], self.waiting[b.session]
            self.partner[a.session], self.partner[b.session] = b.session, a.session

    @rule(
        session=st.sampled_from(SESSIONS),
        device=st.sampled_from(DEVICES),
        band=st.sampled_from(list(AgeBand)),
        mode=st.sampled_from(list(Mode)),
        language=st.sampled_from(["en", "fr"]),
        interests=st.frozensets(st.sampled_from(["a", "b", "c"]), max_size=2),
    )
    def join(self, session, device, band, mode, language, interests):
        if session in self.partner:
            return  # chatting sessions do not join; `skip` covers them
        device = self.device_of.setdefault(session, device)
        self.serial += 1
        ticket = Ticket(
            session, device, pool_for(band, mode), language, interests, self.now, self.serial
        )
        self.mm.leave(session)
        self.waiting.pop(session, None)
        self.waiting[session] = ticket
        pairs = self.mm.join(ticket, self.now)
        self.record(pairs)

    @precondition(lambda self: self.partner)
    @rule(data=st.data())
    def skip(self, data):
        session = data.draw(st.sampled_from(sorted(self.partner)))
        other = self.partner.pop(session)
        del self.partner[other]

    @precondition(lambda self: self.waiting)
    @rule(data=st.data())
    def leave(self, data):
        session = data.draw(st.sampled_from(sorted(self.waiting)))
        assert self.mm.leave(session) == self.waiting.pop(session)

    @rule(seconds=st.sampled_from([0.1, 1.0, 4.0, 5.0, 9.9, 10.0, 30.0, 61.0]))
    def tick(self, seconds):
        self.now += seconds
        self.record(self.mm.tick(self.now))

    @invariant()
    def the_queue_is_what_was_left_waiting(self):
        assert {t.session: t for t in self.mm.waiting_tickets()} == self.waiting

    @invariant()
    def nobody_waits_beside_a_compatible_stranger(self):
        tickets = list(self.waiting.values())
        for i, a in enumerate(tickets):
            for b in tickets[i + 1 :]:
                if a.pool != b.pool or a.device == b.device:
                    continue
                if frozenset((a.device, b.device)) in BLOCKED:
                    continue
                met = self.last_met.get(frozenset((a.device, b.device)))
                if met is not None and self.now - met < RULES.repair_cooldown:
                    continue
                assert not accept(a, b, self.now), f"{a} and {b} both wait"


MatchmakerMachine.TestCase.settings = settings(
    max_examples=300, stateful_step_count=60, deadline=None
)
TestMatchmakerProperties = MatchmakerMachine.TestCase
