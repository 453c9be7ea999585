"""The connection a KB's search backend and its rebuilds share.

`ElasticsearchSearch` builds one `Cluster`; an `ElasticsearchIndexBuild` receives it, so
neither module imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from elasticsearch import AsyncElasticsearch

from bot.domain import KbStats
from bot.retrieval.elasticsearch.bulk import BulkSettings
from bot.retrieval.elasticsearch.errors import translated
from bot.retrieval.elasticsearch.indices import KbIndexes


@dataclass(frozen=True, slots=True)
class Cluster:
    url: str
    client: AsyncElasticsearch
    slow_client: AsyncElasticsearch
    """For bulk writes and index administration, which may legitimately take a while."""
    indexes: KbIndexes
    timeout_s: float
    replicas: int
    retire_after_s: float
    bulk_settings: BulkSettings

    async def stats(self, kb: str) -> KbStats:
        served = await self.indexes.require(kb, fresh=True)
        async with translated(self.url, f"stats of KB {kb!r}", kb=kb):
            response = await self.client.search(
                index=self.indexes.names(kb).alias,
                size=0,
                track_total_hits=True,
                aggs={
                    "documents": {
                        "cardinality": {"field": "source_id", "precision_threshold": 40000}
                    },
                    "last": {"max": {"field": "indexed_at"}},
                },
            )
        aggs = response["aggregations"]
        last = aggs["last"].get("value")
        last_indexed = (
            datetime.fromtimestamp(last / 1000, UTC).isoformat(timespec="seconds") if last else None
        )
        return KbStats(
            kb=kb,
            documents=int(aggs["documents"]["value"]),
            chunks=int(response["hits"]["total"]["value"]),
            index=served.meta.info,
            last_indexed=last_indexed,
        )
