"""ElasticsearchIndexBuild: a full re-index into a fresh index, swapped in atomically.

The new index is written through its own writer alias with replicas and periodic
refresh off. `commit` refreshes it, checks that it holds exactly the chunks written,
merges it to one segment, restores replicas, waits for them, then moves the KB's alias
in one `_aliases` call: a query before that call reads the old index, after it the new
one, never a mixture or an empty index. The old index is deleted `retire_after_s`
later, once the queries already running on it have finished. Any failure before the
swap leaves the old index serving; `abort` (or the next rebuild of the KB) removes the
half-built one.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Sequence

from elasticsearch import ApiError, TransportError
from elasticsearch.exceptions import GeneralAvailabilityWarning

from bot.domain import DocumentChunks, KbStats, WriteReport
from bot.errors import IngestionError
from bot.retrieval.elasticsearch import bulk
from bot.retrieval.elasticsearch.cluster import Cluster
from bot.retrieval.elasticsearch.errors import translated
from bot.retrieval.elasticsearch.mapping import IndexMeta, IndexNames, ServedIndex

logger = logging.getLogger(__name__)

MERGE_TIMEOUT_S = 3600.0
"""A 100k-chunk KB merged in ~5 min on a busy 2-core node; past this, serve it unmerged."""
MERGE_POLL_S = 0.2


class ElasticsearchIndexBuild:
    def __init__(
        self,
        cluster: Cluster,
        names: IndexNames,
        physical: str,
        writer: str,
        meta: IndexMeta,
    ) -> None:
        self._cluster = cluster
        self._names = names
        self._physical = physical
        self._writer = writer
        self._meta = meta
        self._chunks: dict[str, dict[str, str]] = {}
        self._finished: str | None = None

    @property
    def index(self) -> str:
        return self._physical

    async def write(self, documents: Sequence[DocumentChunks]) -> WriteReport:
        self._check_open()
        cluster, kb = self._cluster, self._names.kb
        async with translated(cluster.url, f"writing the rebuild of KB {kb!r}"):
            if not await cluster.client.indices.exists_alias(name=self._writer):
                raise IngestionError(
                    f"the rebuild of KB {kb!r} is gone (a newer rebuild replaced it); "
                    "start a new rebuild"
                )
            outcome = await bulk.write_documents(
                cluster.slow_client,
                self._writer,
                kb,
                documents,
                dimension=self._meta.info.dimension,
                previous={
                    d.source_id: self._chunks[d.source_id]
                    for d in documents
                    if d.source_id in self._chunks
                },
                settings=cluster.bulk_settings,
            )
        self._chunks.update(outcome.chunk_ids)
        return outcome.report

    async def commit(self) -> KbStats:
        self._check_open()
        cluster, kb = self._cluster, self._names.kb
        expected = sum(len(ids) for ids in self._chunks.values())
        if expected == 0:
            raise IngestionError(
                f"the rebuild of KB {kb!r} holds no documents; refusing to replace the served "
                "index with an empty one. Abort it, or use delete_kb to empty the KB"
            )
        client = cluster.slow_client
        async with translated(cluster.url, f"committing the rebuild of KB {kb!r}"):
            await client.indices.refresh(index=self._physical)
            found = int((await client.count(index=self._physical))["count"])
            if found != expected:
                raise IngestionError(
                    f"the rebuild of KB {kb!r} holds {found} chunks but {expected} were written;"
                    " the previous index keeps serving. Abort and rebuild again"
                )
            await self._merge_segments()
            await client.indices.put_settings(
                index=self._physical,
                settings={"number_of_replicas": cluster.replicas, "refresh_interval": None},
            )
            await self._wait_for_replicas()
            old = await cluster.indexes.resolve(kb)
            actions: list[dict[str, dict[str, str]]] = [
                {"add": {"index": self._physical, "alias": self._names.alias}},
                {"remove": {"index": self._physical, "alias": self._writer}},
            ]
            if old is not None and old.name != self._physical:
                actions.insert(0, {"remove": {"index": old.name, "alias": self._names.alias}})
            await client.indices.update_aliases(actions=actions)
        self._finished = "committed"
        cluster.indexes.remember(kb, ServedIndex(self._physical, self._meta))
        logger.info("KB %s now served by %s (%d chunks)", kb, self._physical, found)
        if old is not None and old.name != self._physical:
            await self._retire(old.name)
        return await cluster.stats(kb)

    async def abort(self) -> None:
        """Drop the half-built index; never raises (the next rebuild cleans up otherwise)."""
        if self._finished is not None:
            return
        self._finished = "aborted"
        try:
            await self._cluster.slow_client.options(ignore_status=404).indices.delete(
                index=self._physical
            )
        except (ApiError, TransportError) as exc:
            logger.warning("could not drop aborted rebuild %s: %s", self._physical, exc)

    async def _merge_segments(self) -> None:
        """One segment before the index serves (before replicas, so they copy it merged).

        A bulk load leaves a segment per flush (17 for 100k chunks), and every query pays
        per segment: BM25 looks up each term in each, kNN searches each segment's graph.
        Merged, the 100k bench KB's BM25 scores stay identical and its hybrid p50 fell
        94 -> 55 ms (benchmarks/README.md, issue 13 third pass). The merge runs as a task
        polled with the usual request timeouts, so a stalled node fails the commit as fast
        as before. Best effort: an index not merged in time serves as written.
        """
        client = self._cluster.slow_client
        try:
            started = await client.indices.forcemerge(
                index=self._physical, max_num_segments=1, wait_for_completion=False
            )
            deadline = time.monotonic() + MERGE_TIMEOUT_S
            while time.monotonic() < deadline:
                with warnings.catch_warnings():  # the client flags `tasks.get` as a preview
                    warnings.simplefilter("ignore", GeneralAvailabilityWarning)
                    status = await client.tasks.get(task_id=started["task"])
                if status.get("completed"):
                    return
                await asyncio.sleep(MERGE_POLL_S)
            logger.warning(
                "%s not merged in %.0f s; it serves as written", self._physical, MERGE_TIMEOUT_S
            )
        except (ApiError, TransportError) as exc:
            logger.warning("%s not merged (%s); it serves as written", self._physical, exc)

    async def _wait_for_replicas(self) -> None:
        """Replicas copy before the swap, so the new index is as available as the old one."""
        if self._cluster.replicas == 0:
            return
        wait_s = max(30, int(6 * self._cluster.timeout_s))
        health = await self._cluster.slow_client.options(
            ignore_status=408, request_timeout=wait_s + 10
        ).cluster.health(index=self._physical, wait_for_status="green", timeout=f"{wait_s}s")
        if health.get("timed_out"):
            logger.warning(
                "replicas of %s not all assigned after %ss (too few nodes?); swapping anyway",
                self._physical,
                wait_s,
            )

    async def _retire(self, index: str) -> None:
        await asyncio.sleep(self._cluster.retire_after_s)
        try:
            await self._cluster.slow_client.options(ignore_status=404).indices.delete(index=index)
        except (ApiError, TransportError) as exc:
            logger.warning("old index %s not deleted (%s); the next rebuild drops it", index, exc)

    def _check_open(self) -> None:
        if self._finished is not None:
            raise IngestionError(
                f"this rebuild of KB {self._names.kb!r} was already {self._finished}"
            )
