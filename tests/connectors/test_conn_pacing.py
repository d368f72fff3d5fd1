"""Pacing: an adaptive send rate per linkage that backs off on 429 and creeps up on clean answers."""

from __future__ import annotations

import json
import time

import pytest
from conn_helpers import intune_config

from mdmtui.connectors.base import connector_for
from mdmtui.connectors.pacing import COOLDOWN_S, PROBE_S, STEP, Pacer, request_units, throttled_items
from mdmtui.secrets import Secret
from mdmtui.sim import BudgetLimits, Simulator


class Clock:
    def __init__(self):
        self.t = 100.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.t += seconds


async def test_free_until_throttled_then_at_the_served_rate():
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    for _ in range(100):                      # 100 units answered within a second, unpaced
        await pacer.acquire()
        pacer.record(200, 1)
        clock.t += 0.01
    assert clock.waits == [] and pacer.rate is None
    pacer.record(429, 1, retry_after=2.0)
    assert 0.95 * 98 <= pacer.rate <= 95.0    # 95 % of what the MDM served over the last second
    await pacer.acquire()
    assert clock.waits and abs(sum(clock.waits) - 2.0) < 1e-9        # Retry-After holds every request
    start = clock.t
    for _ in range(10):
        await pacer.acquire(20)               # a $batch of 20 costs 20 units
    assert abs(clock.t - start - (1 + 9 * 20) / pacer.rate) < 1e-6    # after the 1-unit GET: 1 unit, then 20 per batch


async def test_one_decrease_per_cooldown_and_a_creep_on_clean_answers():
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    pacer.rate = 50.0
    pacer.record(429, 1)
    pacer.record(429, 1)                      # the in-flight requests' 429s: one signal
    assert pacer.rate == 50.0 * 0.85          # nothing served in the window: 85 % of itself
    pacer.record(200, 20)
    assert abs(pacer.rate - (42.5 + 20 * STEP)) < 1e-9
    clock.t += COOLDOWN_S
    pacer.record(200, 20, refused_units=5)    # a $batch with five items refused
    assert pacer.rate < 42.5 and pacer.throttle_signals == 3


async def test_a_burst_allowance_is_not_taken_for_the_budget():
    """Intune lets a burst through (the bucket's 2,000 units) before its first 429: the served rate of that
    first second reads far above the budget. Refusals coming all through the next PROBE_S show what the
    MDM really serves, and the rate drops to it at once, with no 70 % floor per step."""
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    for _ in range(20):                        # 400 units in the first second: the burst allowance
        pacer.record(200, 20)
        clock.t += 0.05
    pacer.record(200, 20, refused_units=20)    # the bucket is empty
    assert pacer.rate > 300                    # 95 % of the burst: far too fast
    for _ in range(10):                        # then refusals all along, 100 units/s served (the budget)
        clock.t += 0.1
        pacer.record(200, 20, refused_units=10)
    assert clock.t - 100.0 - 1.0 >= 2 * PROBE_S   # two probes: each may halve the rate, no more
    assert 0.95 * 90 <= pacer.rate <= 0.95 * 100 + 10 * 10 * STEP


async def test_a_probe_needs_something_served_and_at_most_halves():
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    pacer.rate = 400.0
    pacer.record(429, 20)                      # an ordinary first signal: 85 %
    assert pacer.rate == 340.0
    for _ in range(4):                         # in-flight answers, all refused: nothing served, no probe
        clock.t += 0.1
        pacer.record(429, 20)
    assert pacer.rate == 340.0
    clock.t += 0.1
    pacer.record(200, 20, refused_units=19)    # 1 unit served in 0.5 s: the probe halves, no more
    assert abs(pacer.rate - (340.0 + STEP) / 2) < 1e-9


def test_units_and_throttled_batch_items():
    body = {"requests": [{"id": str(n)} for n in range(20)]}
    assert request_units("https://graph.test/beta/$batch", body) == 20
    assert request_units("https://graph.test/v1.0/deviceManagement/managedDevices", None) == 1
    answer = json.dumps({"responses": [{"id": "1", "status": 429, "headers": {"Retry-After": "3"}},
                                       {"id": "2", "status": 429, "headers": {}}, {"id": "3", "status": 200}]})
    assert throttled_items("https://graph.test/beta/$batch", 200, answer.encode()) == (2, 3.0)
    assert throttled_items("https://graph.test/beta/$batch", 200, b"not json 429") == (0, None)
    assert throttled_items("https://graph.test/v1.0/x", 200, answer.encode()) == (0, None)


@pytest.mark.timing
async def test_a_first_collection_runs_at_the_budget_with_few_429s():
    budget = BudgetLimits(app_limit=50, tenant_limit=100, window_s=1.0, without_retry_after=5)   # 50 units/s
    with Simulator(seed=12, intune=300, mobileiron=1, sdm=1, budget=budget) as sim:
        i = sim.intune
        config = intune_config(server_url=i.base_url, tenant_id=i.tenant_id, client_id=i.client_id,
                               client_secret=Secret(i.client_secret), authority_url=i.base_url, page_size=100,
                               extra={"retry": {"attempts": 10, "initial_s": 0.05, "max_backoff_s": 1.0,
                                                "jitter_s": 0.05}})
        conn = connector_for(config)
        started = time.monotonic()
        try:
            devices = [r async for page in conn.iter_device_pages({}) for r in page]
        finally:
            await conn.aclose()
        wall = time.monotonic() - started
        spent = sim.admin.budget()["intune"]
    assert len(devices) == 300 and not conn.warnings
    assert conn.http.pacer.throttle_signals >= 1                         # the budget did bind
    # unpaced, this run has most of its units answered 429; paced, the 429s are about the requests in
    # flight when the budget first ran out (8 requests, $batches of 20), a fixed cost that a big
    # fleet dilutes (bench/collect.py --scenario daily measures it at scale)
    assert spent["throttled"] <= 0.12 * (spent["units"] + spent["throttled"])
    assert wall <= 1.3 * spent["units"] / budget.app_rate
