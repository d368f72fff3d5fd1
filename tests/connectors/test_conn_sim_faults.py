"""The fault matrix against the simulator: every fault ends in a complete, correct device list or in an
error of the mdmtui.errors family with an actionable message — never a truncated or duplicated list."""

from __future__ import annotations

import pytest
from conn_sim import collect

from mdmtui.errors import ConnectionFailed, MdmtuiError, ProtocolError, Throttled
from mdmtui.sim import Faults, Simulator

SIZE = 240
PAGES = {"intune": 40, "mobileiron": 40, "sdm": 40}
SYSTEMS = ["intune", "mobileiron", "sdm"]
# endpoint names of the listing in the simulator's fault switch
LISTING = {"intune": "managedDevices", "mobileiron": "devices", "sdm": "sdm_devices"}


@pytest.fixture(scope="module")
def sim():
    with Simulator(seed=11, intune=SIZE, mobileiron=SIZE, sdm=SIZE) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _clear(sim):
    sim.set_faults(None)
    yield
    sim.set_faults(None)


def assert_complete(sim, system: str, records) -> None:
    ids = [r.mdm_device_id for r in records]
    assert len(ids) == len(set(ids)), "duplicated devices"
    assert set(ids) == set(sim.device_ids(system)), "missing devices"


async def outcome(sim, system: str, **kw):
    """(records, None) on success or (None, error); anything outside the error family fails the test."""
    kw.setdefault("extra", {"collect_software": False})
    try:
        records, conn = await collect(sim, system, page_size=PAGES[system], **kw)
    except MdmtuiError as exc:
        assert str(exc) and len(str(exc)) > 25, "an error without an actionable message"
        return None, exc
    assert_complete(sim, system, records)
    return records, None


FAULTS = {
    "429 burst": Faults(burst_429=(2, 5), retry_after=0),
    "429 without Retry-After": Faults(rate_429=0.2, retry_after=None),
    "5xx": Faults(rate_5xx=0.2, retry_after=0),
    "500": Faults(rate_5xx=0.2, status_5xx=500),
    "reset mid-page": Faults(reset_mid_page=0.2),
    "truncated JSON": Faults(truncated_json=0.2),
    "malformed JSON": Faults(malformed_json=0.2),
    "repeated page": Faults(repeat_page=0.2),
    "latency": Faults(latency_ms=20),
}


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize("name", list(FAULTS))
async def test_transient_faults_end_in_the_complete_list(sim, system, name):
    sim.set_faults(FAULTS[name], mdm=system)
    records, error = await outcome(sim, system)
    assert error is None, f"{name}: {error}"


@pytest.mark.parametrize("system", SYSTEMS)
async def test_429_storm_is_throttled(sim, system):
    sim.set_faults(Faults(rate_429=1, retry_after=0), mdm=system)
    _, error = await outcome(sim, system)
    assert isinstance(error, Throttled) and "try again later" in str(error)


@pytest.mark.parametrize("system", SYSTEMS)
async def test_long_retry_after_fails_at_once(sim, system):
    sim.set_faults(Faults(rate_429=1, retry_after=600), mdm=system)
    _, error = await outcome(sim, system)
    assert isinstance(error, Throttled) and error.retry_after == 600


@pytest.mark.parametrize("system", SYSTEMS)
async def test_hung_server_is_a_connection_failure_naming_the_timeout(sim, system):
    sim.set_faults(Faults(hang_s=1.5), mdm=system, endpoint=LISTING[system])
    _, error = await outcome(sim, system, timeout_s=0.2,
                             extra={"retry": {"attempts": 2, "initial_s": 0.01}, "collect_software": False})
    assert isinstance(error, ConnectionFailed) and "raise the linkage's timeout" in str(error)


@pytest.mark.parametrize("system", SYSTEMS)
async def test_some_hung_answers_are_retried(sim, system):
    sim.set_faults(Faults(hang_s=1.0, rate_hang=0.2), mdm=system, endpoint=LISTING[system])
    records, error = await outcome(sim, system, timeout_s=0.2)
    assert error is None or isinstance(error, ConnectionFailed)


@pytest.mark.parametrize("system", SYSTEMS)
async def test_garbage_every_time_is_a_protocol_error(sim, system):
    sim.set_faults(Faults(malformed_json=1), mdm=system, endpoint=LISTING[system])
    _, error = await outcome(sim, system)
    assert isinstance(error, ProtocolError) and "not JSON" in str(error)


@pytest.mark.parametrize("system", ["mobileiron", "sdm"])
async def test_always_repeated_page_is_a_protocol_error_not_a_short_list(sim, system):
    sim.set_faults(Faults(repeat_page=1), mdm=system)
    _, error = await outcome(sim, system)
    assert isinstance(error, ProtocolError) and "same devices again" in str(error)


async def test_expired_next_link_recovers_or_says_so(sim):
    sim.set_faults(Faults(expired_nextlink=0.1), mdm="intune")
    records, error = await outcome(sim, "intune")
    assert error is None or (isinstance(error, ProtocolError) and "expired" in str(error))


async def test_next_link_always_expired_is_a_protocol_error(sim):
    sim.set_faults(Faults(expired_nextlink=1), mdm="intune")
    _, error = await outcome(sim, "intune")
    assert isinstance(error, ProtocolError) and "paging link expired" in str(error)


async def test_batch_items_failing_leave_a_complete_list_and_honest_gaps(sim):
    sim.set_faults(Faults(batch_item_fail_rate=0.2, retry_after=0), mdm="intune", endpoint="batch")
    records, _ = await collect(sim, "intune", page_size=PAGES["intune"], extra={"collect_software": False})
    assert_complete(sim, "intune", records)
    for record in records:
        truth = sim.truth("intune", record.mdm_device_id)
        if record.unfetched:
            assert record.change_marker is None and record.ram_total_bytes is None  # fetched again next time
        else:
            assert record.ram_total_bytes == truth["physicalMemoryInBytes"]
            assert record.iccid == ((truth["iccid"] or "").replace(" ", "") or None)  # without separators
    # items that 404 on their own (deleted meanwhile in a real tenant) are the only ones allowed to stay unfetched
    assert sum(1 for r in records if r.unfetched) < len(records) * 0.3


async def test_batch_failing_every_time_still_lists_every_device(sim):
    sim.set_faults(Faults(batch_item_fail_rate=1, retry_after=0), mdm="intune", endpoint="batch")
    records, conn = await collect(sim, "intune", page_size=PAGES["intune"], extra={"collect_software": False})
    assert_complete(sim, "intune", records)
    assert all(r.unfetched and r.change_marker is None for r in records) and conn.warnings


async def test_detected_apps_failing_keep_stored_software(sim):
    sim.set_faults(Faults(rate_5xx=1, status_5xx=500), mdm="intune", endpoint="deviceDetectedApps")
    records, conn = await collect(sim, "intune", page_size=PAGES["intune"])
    assert_complete(sim, "intune", records)
    assert all(r.software is None and r.change_marker is None for r in records)
    assert any("detected apps" in w for w in conn.warnings)


class _Recorder:
    """A loopback HTTP server that records what reaches it (the host a tampered next link names)."""

    def __init__(self) -> None:
        import http.server
        import threading

        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                seen.append((self.path, dict(self.headers)))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"value":[]}')

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_intune_next_link_to_another_host_gets_no_request_and_no_token(sim):
    """Issue 11 #4 over HTTP: the simulator's next links name another loopback server."""
    other = _Recorder()
    sim.intune.next_link_base = other.base
    try:
        _, error = await outcome(sim, "intune")
    finally:
        sim.intune.next_link_base = ""
        other.close()
    assert isinstance(error, ProtocolError), error
    assert "next link (@odata.nextLink) of the device list points to another host" in str(error)
    assert other.base.split("//")[1].split(":")[1] in str(error)  # the port it named
    assert other.seen == []  # nothing was sent there, so no bearer token either
