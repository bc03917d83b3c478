"""What waits to be stored, as the sends see it: which sends may go meanwhile."""

from __future__ import annotations

from enum import IntEnum

# Alarms waiting to be stored from which on they are a storm. At 100 alarms/s a transaction
# leaves one to five behind it, and that steady flow must not hold back the text beside every
# call (its one-tap link is how a contact answers in Japan); a storm leaves thousands.
STORM_BACKLOG = 50


class Backlog(IntEnum):
    """Ordered: a later member holds back more sends than an earlier one."""

    NONE = 0  # nothing waits: every due send goes
    ALARMS = 1  # alarms wait: P1/P2 sends only, so a P1 among them never waits behind a P3's
    STORM = 2  # a storm: also each person's first channel only, few requests beside the storing

    @classmethod
    def of(cls, waiting: int) -> Backlog:
        """The backlog of `waiting` alarms, cancels and rejections read and not stored yet."""
        if waiting <= 0:
            return cls.NONE
        return cls.ALARMS if waiting < STORM_BACKLOG else cls.STORM
