"""What the simulated far end does with each dialled number.

A `Scenario` is pure data. `plan_call` turns (scenario, number, attempt) into a `CallPlan`
with every random draw made up front, from an RNG seeded by (seed, number, attempt): the same
number dialled for the same time gets the same fate whatever order the dialer sends calls in,
so runs repeat exactly.

All durations are SIMULATED seconds; the simulator divides them by `speed` to get real delays,
while CDR stamps and billsec are computed from the simulated values.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["CallPlan", "CallScript", "Outcome", "Range", "Scenario", "plan_call"]

# A uniform range in simulated seconds (low, high); low == high means a fixed value.
Range = tuple[float, float]


class Outcome(enum.Enum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    UNREACHABLE = "unreachable"
    UNALLOCATED = "unallocated"
    REJECTED = "rejected"
    CONGESTION = "congestion"
    VOICEMAIL = "voicemail"


@dataclass(frozen=True, slots=True)
class Failure:
    """How a far end refuses: the cause FreeSWITCH reports and the SIP status behind it."""

    cause: str
    sip_status: int
    rings_first: bool


# sofia maps SIP finals to causes (sofia_glue_sip_cause_to_freeswitch); a Reason header with a
# Q.850 cause wins over the mapping, which is how 480 becomes SUBSCRIBER_ABSENT and 503 becomes
# NORMAL_CIRCUIT_CONGESTION on real carriers.
FAILURES: Mapping[Outcome, Failure] = {
    Outcome.BUSY: Failure("USER_BUSY", 486, rings_first=True),
    Outcome.REJECTED: Failure("CALL_REJECTED", 603, rings_first=True),
    Outcome.UNREACHABLE: Failure("SUBSCRIBER_ABSENT", 480, rings_first=False),
    Outcome.UNALLOCATED: Failure("UNALLOCATED_NUMBER", 404, rings_first=False),
    Outcome.CONGESTION: Failure("NORMAL_CIRCUIT_CONGESTION", 503, rings_first=False),
}


@dataclass(frozen=True, slots=True)
class CallScript:
    """Exact behaviour for one number; None fields are drawn from the scenario's ranges."""

    outcome: Outcome = Outcome.ANSWERED
    ring_time: float | None = None
    talk_time: float | None = None
    dtmf: str = ""


@dataclass(frozen=True, slots=True)
class Scenario:
    """The far end's behaviour.

    Lookup order for a number: `numbers` (exact), then the longest matching key of `prefixes`,
    then a draw from the `outcomes` probability table (weights need not sum to 1).
    """

    outcomes: Mapping[Outcome, float] = field(
        default_factory=lambda: {Outcome.ANSWERED: 1.0}
    )
    prefixes: Mapping[str, Outcome] = field(default_factory=dict)
    numbers: Mapping[str, CallScript] = field(default_factory=dict)
    ring_time: Range = (2.0, 8.0)
    talk_time: Range = (10.0, 60.0)
    # Time to the first 180 Ringing for calls that ring.
    progress_delay: Range = (0.1, 0.5)
    # Time to an immediate refusal (404, 480, 503) for calls that never ring.
    failure_delay: Range = (0.05, 0.3)
    # Voicemail: the beep comes this long after answer; avmd::stop 0.5 s later.
    beep_delay: Range = (3.0, 8.0)
    # mod_amd verdict this long after answer (sets amd_result / amd_cause).
    amd_delay: Range = (1.5, 3.5)
    # Whether answered calls carry mod_amd variables (amd_result HUMAN or MACHINE).
    amd: bool = True
    dtmf_delay: float = 2.0
    dtmf_interval: float = 0.5
    dtmf_duration_ms: int = 100
    speed: float = 1.0
    seed: int = 0
    # Emit CHANNEL_STATE / CHANNEL_CALLSTATE / CHANNEL_EXECUTE* / PARK like FreeSWITCH does.
    # Off cuts the per-call event count roughly in half for load tests.
    state_events: bool = True

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError("speed must be > 0")
        if not any(w > 0 for w in self.outcomes.values()) and not self.prefixes:
            raise ValueError("outcomes needs a positive weight")
        for rng in (self.ring_time, self.talk_time, self.progress_delay, self.failure_delay):
            if rng[0] < 0 or rng[1] < rng[0]:
                raise ValueError(f"bad range {rng}")


@dataclass(frozen=True, slots=True)
class CallPlan:
    """Everything that will happen to one leg, in simulated seconds from channel creation."""

    outcome: Outcome
    # Until answer (answered/voicemail), until refusal (failures), ignored for NO_ANSWER.
    ring_time: float
    talk_time: float
    progress_delay: float | None
    dtmf: str
    beep_delay: float
    amd_delay: float


def _draw(rng: random.Random, bounds: Range) -> float:
    low, high = bounds
    return low if high <= low else rng.uniform(low, high)


def _outcome(scenario: Scenario, number: str, rng: random.Random) -> Outcome:
    best = ""
    for prefix in scenario.prefixes:
        if number.startswith(prefix) and len(prefix) >= len(best):
            best = prefix
    if best or "" in scenario.prefixes:
        return scenario.prefixes[best]
    choices = [o for o, w in scenario.outcomes.items() if w > 0]
    weights = [scenario.outcomes[o] for o in choices]
    return rng.choices(choices, weights)[0]


def plan_call(scenario: Scenario, number: str, attempt: int) -> CallPlan:
    # String seeds are hashed with SHA-512 by random.Random: stable across processes.
    rng = random.Random(f"{scenario.seed}/{number}/{attempt}")
    script = scenario.numbers.get(number)
    outcome = script.outcome if script is not None else _outcome(scenario, number, rng)
    failure = FAILURES.get(outcome)
    if failure is not None and not failure.rings_first:
        ring = _draw(rng, scenario.failure_delay)
        progress: float | None = None
    else:
        ring = _draw(rng, scenario.ring_time)
        progress = min(_draw(rng, scenario.progress_delay), ring)
    talk = _draw(rng, scenario.talk_time)
    if script is not None:
        ring = script.ring_time if script.ring_time is not None else ring
        talk = script.talk_time if script.talk_time is not None else talk
        if progress is not None:
            progress = min(progress, ring)
    return CallPlan(
        outcome=outcome,
        ring_time=ring,
        talk_time=talk,
        progress_delay=progress,
        dtmf=script.dtmf if script is not None else "",
        beep_delay=_draw(rng, scenario.beep_delay),
        amd_delay=_draw(rng, scenario.amd_delay),
    )
