"""The clock: the explicit order of work inside one cycle (rule T4).

Cycle c occupies simulated time [c, c + 1) and is split into three phases at fixed times, so the
order of work never depends on how SimPy orders events that fall on the same instant:

* ``decide`` at c + 0.25: every unit reads the state *at the start of the cycle* (the committed
  values of all registers, queues and register files) and only *stages* its updates.
* ``commit`` at c + 0.5: every unit applies its own staged updates; they become visible in
  cycle c + 1 (T4: an entry pushed in cycle t can be popped in t + 1 at the earliest, a queue
  slot freed in cycle t is seen by the CCU in t + 1).
* ``account`` at c + 0.75: the chip classifies the cycle for every PE (T11) and checks whether
  the front end has ended (T8). This is bookkeeping, not hardware.

Time 0 .. 0.25 is left free so that every process has started and subscribed to cycle 0's
decide phase before it fires.

A unit only ever reads its own staged values or committed values of other units, and each unit
commits only its own state, so the units of one phase can run in any order with the same result
(tests run the model with the processes started in shuffled orders to check this).
"""

from __future__ import annotations

from collections.abc import Callable

import simpy

DECIDE_AT = 0.25
COMMIT_AT = 0.5
ACCOUNT_AT = 0.75


class Clock:
    """Fires the decide and commit phase of every cycle as shared SimPy events.

    A process that yields :attr:`decide` resumes in the decide phase of the next cycle whose
    decide phase has not fired yet; one that yields :attr:`commit` resumes in the commit phase
    of the current cycle (or the next one, if this cycle's commit already fired).
    """

    def __init__(self, env: simpy.Environment, account: Callable[[int], None]) -> None:
        self.env = env
        self.cycle = 0  # the cycle in progress (or about to start)
        self._account = account
        self._decide = env.event()
        self._commit = env.event()
        env.process(self.run())

    @property
    def decide(self) -> simpy.Event:
        return self._decide

    @property
    def commit(self) -> simpy.Event:
        return self._commit

    def run(self):
        env = self.env
        yield env.timeout(DECIDE_AT)
        while True:
            # Swap in the next cycle's event before firing this one, so that a unit that
            # yields ``clock.decide`` while this phase runs waits for the next cycle.
            event, self._decide = self._decide, env.event()
            event.succeed(self.cycle)
            yield env.timeout(COMMIT_AT - DECIDE_AT)
            event, self._commit = self._commit, env.event()
            event.succeed(self.cycle)
            yield env.timeout(ACCOUNT_AT - COMMIT_AT)
            self._account(self.cycle)
            yield env.timeout(1.0 + DECIDE_AT - ACCOUNT_AT)
            self.cycle += 1
