"""A collection run's orchestration: stream a linkage's devices from its MDM into the inventory, atomically.

How a run goes (``collect``):
1. Take the linkage's collection lock (``services.locks``; ``Busy`` when another process collects it)
   and record the run "running" (``storage.runs``) (outside any transaction, so a failure is recorded too).
2. Stream the MDM's pages. Each page is compared with the stored devices *by fingerprint* (a hash of
   the collected items) and only new or changed devices are staged, in temporary tables of the run's
   own connection (``storage.staging``): nothing the console reads changes, and no write lock is held while the MDM talks.
3. When the stream completed: ask the MDM directly about each stored device the listing did not show
   (``Connector.device_gone``): only those it confirms gone become *missing* — an offset-paged list that
   changed while it was read skips live devices. Then resolve re-enrolments and duplicates
   (``identity.py``), and apply
   everything in ONE short transaction — missing marks, inserts, updates, history, software, events,
   audit and the run's "succeeded". A failure or a cancel before that leaves the inventory untouched.

All database work of a run happens on one dedicated storage lane, ``ctx.storage.dedicated`` (one thread,
so one connection: temporary tables are per connection): the steps of ``steps.Run``. The event loop only awaits them, one page behind the
network. The comparison itself is ``diff.py`` (plain data, no database).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from mdmtui.connectors.base import Connector, LinkageConfig, connector_for
from mdmtui.errors import ActionRefused, Busy, Cancelled, MdmtuiError, NotFoundError
from mdmtui.records import CollectionSummary, DeviceRecord, Progress, StoredSoftware
from mdmtui.services import roles
from mdmtui.services.collection.steps import Run
from mdmtui.services.context import Context
from mdmtui.storage import Dedicated, runs
from mdmtui.storage import software as stored_software

log = logging.getLogger("mdmtui.services.collection")

ProgressCallback = Callable[[Progress], None]
ConnectorFactory = Callable[[LinkageConfig], Connector]

# Up to this many devices absent from a listing are asked for one by one; more are checked by listing
# again (a linkage pointed at another server must not cost 100,000 requests)
RECHECK_ONE_BY_ONE = 2000


# ------------------------------------------------------------------------------------------ public API


async def collect(ctx: Context, name: str, *, trigger: str = "immediate", progress: ProgressCallback | None = None,
                  cancel: asyncio.Event | None = None, connector_factory: ConnectorFactory | None = None,
                  changed_only: bool = False) -> CollectionSummary:
    """Collect one linkage now; the summary says succeeded, failed (with the reason) or cancelled.

    ``changed_only`` lists only the devices whose last contact moved since the last successful run
    began (on the MDM's clock, minus ``CHANGED_MARGIN``) and never marks anything missing.

    Raises ``NotFoundError`` for an unknown linkage, ``Busy`` when the linkage is being collected
    elsewhere and ``ActionRefused`` in read-only mode; every other failure is a recorded, failed run.
    """
    if trigger not in ("immediate", "scheduled"):
        raise ValueError(f"trigger must be 'immediate' or 'scheduled', got {trigger!r}")
    if ctx.read_only:
        raise ActionRefused("read-only mode: collection is disabled")
    roles.require(ctx, roles.Permission.COLLECT, target=f"collection of {name}")
    writer = ctx.storage.dedicated("collect-writer")  # the temporary tables live in its one connection
    try:
        run = await writer.run(Run.begin, ctx, name, trigger, "changed" if changed_only else "full")
        return await _stream_and_apply(run, writer, connector_factory or connector_for, progress, cancel)
    finally:
        await writer.close()


async def collect_many(ctx: Context, names: Sequence[str] | None = None, *, trigger: str = "immediate",
                       progress: ProgressCallback | None = None, cancel: asyncio.Event | None = None,
                       connector_factory: ConnectorFactory | None = None,
                       changed_only: bool = False) -> list[CollectionSummary]:
    """Collect several linkages concurrently (None: every enabled one); one summary each, in order.

    A linkage being collected elsewhere gives a "skipped" summary; the others go on.
    """
    if ctx.read_only:
        raise ActionRefused("read-only mode: collection is disabled")
    roles.require(ctx, roles.Permission.COLLECT, target="collection")
    chosen = await ctx.storage.run(_linkage_names, names)
    slots = asyncio.Semaphore(ctx.settings.collect_concurrency)

    async def one(linkage_name: str) -> CollectionSummary:
        async with slots:
            if cancel is not None and cancel.is_set():
                return CollectionSummary(linkage_name, status="cancelled", reason="cancelled before it started")
            try:
                return await collect(ctx, linkage_name, trigger=trigger, progress=progress, cancel=cancel,
                                     connector_factory=connector_factory, changed_only=changed_only)
            except Busy as exc:
                return CollectionSummary(linkage_name, status="skipped", reason=str(exc))

    return list(await asyncio.gather(*(one(n) for n in chosen)))


def _linkage_names(names: Sequence[str] | None) -> list[str]:
    if names is None:
        return runs.enabled_linkage_names()
    known = runs.known_linkage_names(names)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise NotFoundError("no linkage named " + ", ".join(f"'{n}'" for n in unknown)
                            + " (see `mdmtui linkage list`)")
    return list(dict.fromkeys(names))


# ---------------------------------------------------------------------------------------- the stream


async def _stream_and_apply(run: Run, writer: Dedicated, factory: ConnectorFactory,
                            progress: ProgressCallback | None, cancel: asyncio.Event | None) -> CollectionSummary:
    """Stream, stage page by page, apply; every ending is recorded by the writer thread."""
    try:
        connector = factory(await writer.run(run.config))
        try:
            await _stream(run, writer, connector, progress, cancel)
            warnings = list(getattr(connector, "warnings", []) or [])
        finally:
            await connector.aclose()
        _check_cancel(cancel)
        return await writer.run(run.apply, warnings)
    except (Cancelled, asyncio.CancelledError) as exc:
        summary = await asyncio.shield(writer.run(run.finish, "cancelled", _cancel_reason(exc)))
        if isinstance(exc, asyncio.CancelledError):
            raise
        return summary
    except MdmtuiError as exc:
        return await writer.run(run.finish, "failed", str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug must still end as a recorded failed run
        log.exception("collection of %s crashed", run.name)
        return await writer.run(run.finish, "failed", f"unexpected error: {exc.__class__.__name__}: {exc} "
                                                       "(details in the log file)")


async def _stream(run: Run, writer: Dedicated, connector: Connector, progress: ProgressCallback | None,
                  cancel: asyncio.Event | None) -> None:
    """Stage each page while the next one is fetched (one page in flight at the writer): the MDM's budget
    keeps being spent while a page is compared and staged, instead of idling for every page's staging."""
    known = await writer.run(run.prepare)
    _offer_stored_software(run, writer, connector)
    started, pages, devices = time.monotonic(), 0, 0
    stream = aiter(connector.iter_device_pages(known))
    staging: asyncio.Future[None] | None = None   # the previous page's, on the writer thread

    def report(count: int, done: asyncio.Future[None]) -> None:
        """Progress as soon as a page is staged (not when the next one arrives)."""
        nonlocal pages, devices
        if done.cancelled() or done.exception() is not None:
            return
        pages, devices = pages + 1, devices + count
        if progress is not None:
            elapsed = max(time.monotonic() - started, 1e-6)
            try:
                progress(Progress(run.name, pages, devices, None, devices / elapsed))
            except Exception:  # noqa: BLE001 - a display's failure must not fail the collection
                log.exception("the progress callback of %s failed", run.name)

    async def staged() -> None:
        nonlocal staging
        done, staging = staging, None
        if done is not None:
            await done

    try:
        while (page := await _next_page(stream, cancel)) is not _END:
            await staged()
            staging = asyncio.ensure_future(writer.run(run.stage_page, page))
            staging.add_done_callback(functools.partial(report, len(page)))
        await staged()
    finally:
        if staging is not None:  # the fetch failed or was cancelled while a page was staging: let it end first
            await asyncio.gather(staging, return_exceptions=True)
        aclose = getattr(stream, "aclose", None)  # an async generator: close it even when abandoned mid-page
        if aclose is not None:
            await aclose()
    _check_cancel(cancel)
    run.mdm_started_at = getattr(connector, "listed_at", None)  # before a re-check lists again
    if run.kind == "full":  # a changed-only listing leaves out every quiet device: absence proves nothing
        await _recheck_absent(run, writer, connector, known)


def _offer_stored_software(run: Run, writer: Dedicated, connector: Connector) -> None:
    """A connector with a ``stored_software`` attribute (Intune: its list route works out software changes
    from the tenant-wide app counts) gets a loader of the linkage's stored software, read on the run's own
    lane and only if the connector calls it; the other connectors never see it."""
    if not hasattr(connector, "stored_software"):
        return

    async def load() -> StoredSoftware:
        return await writer.run(stored_software.of_linkage, run.ctx.db, run.linkage.id)

    connector.stored_software = load


_END = object()


async def _next_page(stream: AsyncIterator[list[DeviceRecord]], cancel: asyncio.Event | None) -> Any:
    """The stream's next page, or ``_END``; a cancel (a signal) stops waiting for a slow MDM at once."""
    if cancel is None:
        return await anext(stream, _END)
    _check_cancel(cancel)
    fetch = asyncio.ensure_future(anext(stream, _END))
    stop = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait((fetch, stop), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not fetch.done():
            fetch.cancel()  # the request in flight is abandoned; nothing of the run is written
            await asyncio.gather(fetch, return_exceptions=True)
    _check_cancel(cancel)
    return fetch.result()


async def _recheck_absent(run: Run, writer: Dedicated, connector: Connector, known: dict[str, str | None]) -> None:
    """Ask the MDM about each stored device the listing did not show; only confirmed ones go missing.
    Beyond RECHECK_ONE_BY_ONE devices a second complete listing is cheaper: absent from both is gone."""
    absent = await writer.run(run.absent)
    if not absent:
        return
    if len(absent) > RECHECK_ONE_BY_ONE:
        listed = await _listed_ids(connector, known)
        gone = {device_id for device_id, mdm_id in absent if mdm_id not in listed}
    else:
        answers = await asyncio.gather(*(_gone_or_none(connector, mdm_id) for _, mdm_id in absent))
        gone = {device_id for (device_id, _), answer in zip(absent, answers) if answer is True}
    await writer.run(run.confirm_absent, gone, len(absent))


async def _listed_ids(connector: Connector, known: dict[str, str | None]) -> set[str]:
    """The MDM ids of a second complete listing (unchanged devices cost no per-device call)."""
    listed: set[str] = set()
    kept = list(getattr(connector, "warnings", None) or [])  # the run's warnings are the first listing's
    async for page in connector.iter_device_pages(known):
        listed.update(r.mdm_device_id for r in page)
    if hasattr(connector, "warnings"):
        connector.warnings = kept
    return listed


async def _gone_or_none(connector: Connector, mdm_id: str) -> bool | None:
    """True/False as the MDM answers; None when it could not be asked (the device stays as it was)."""
    try:
        return await connector.device_gone(mdm_id)
    except MdmtuiError as exc:
        log.info("could not confirm that %s is gone: %s", mdm_id, exc)
    except Exception:  # noqa: BLE001 - one odd answer must not fail the run; the device is left alone
        log.exception("could not confirm that %s is gone", mdm_id)
    return None


def _check_cancel(cancel: asyncio.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled by the admin; the inventory was left as it was")


def _cancel_reason(exc: BaseException) -> str:
    if isinstance(exc, Cancelled):
        return str(exc)
    return "interrupted; the inventory was left as it was"
