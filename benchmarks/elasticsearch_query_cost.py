"""What an Elasticsearch hybrid query costs, and where: the client's wall time against the
node's own `took`, per retriever, on two or more KBs interleaved question by question.

    .venv/bin/python -m benchmarks.elasticsearch_query_cost --url http://127.0.0.1:9200 \\
        --kb bench-zulip --kb bench-zulip-new [--questions 192 --repeats 2] [--profile N]
    ... --kb bench-large --kb bench-large@bench-large-merged      # a copy of the same KB
    ... --kb bench-large --bm25 shipped --bm25 per-field          # two BM25 request bodies

The KBs are benchmark KBs (`benchmarks/search.py --keep` writes `bench-zulip` and
`bench-large` under the index prefix `bench`); give two to compare indices written by two
versions of the code on one node, under one load. `KB@INDEX` queries INDEX (an index or
alias holding a copy of KB's documents: a clone, a force-merged or re-sorted copy, one
with more shards) as KB; an index of more than one shard gets BM25 with
`dfs_query_then_fetch`, so its scores use the statistics of all shards, as one shard's do.
`--bm25` names BM25 request bodies to compare (`shipped` is the backend's own; the others are
candidates in `BM25_BODIES`). For every question, in an order that rotates, each
(KB, body) gets BM25 top-50 alone, kNN top-50 alone and both at once (what
`HybridRetriever` sends), with the backend's client settings and the shipped boosts; it
records the wall time, this process's CPU time and each response's `took` (the node's
milliseconds). Lists are compared with the first cell's: same ids and scores in order, and
same scores in order (the synthetic large set holds copies of every chunk with equal
scores, whose order among themselves follows the segment layout). `--profile` adds the
node's profile of each retriever (query, kNN's DFS phase, fetch and its stored-field
loading), which says where `took` goes.

`--shapes` compares the backend's two ways of reading hits instead, on each KB, through
`ElasticsearchSearch.bm25` / `.knn` themselves (the pipeline's path):

    .venv/bin/python -m benchmarks.elasticsearch_query_cost --url http://127.0.0.1:9200 \
        --kb bench-zulip --shapes [--ingest]

- full: every hit's `_source` read by the node's fetch phase (chunk cache off, bound 0);
- lean: ids and versions from doc values, text from the chunk cache, warmed by one pass
  over the questions first (a help center's chunks all fit);
- lean-cold: the same with the cache emptied before every call, so each search is followed
  by an `mget` of all its hits (the first question after a start or a re-index).

Per question, in rotating order, each shape runs BM25 alone, kNN alone and both at once;
lists (chunks, scores, ranks) must equal the full shape's. `--ingest` first writes the Zulip
help center (`benchmarks.search`: ../shared/eval/zulip-help, vectors cached under
data/benchmark-cache/) into every `--kb` that does not exist yet.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.search import REPO, TOP_N, ingest, load_zulip, percentile, with_kb
from bot.domain import Hit, IndexInfo, Vector
from bot.embedding.sentence_transformer import SentenceTransformerEmbedder
from bot.retrieval.elasticsearch import queries as q
from bot.retrieval.elasticsearch.chunk_cache import DEFAULT_MAX_CHUNKS
from bot.retrieval.elasticsearch.search import ElasticsearchSearch
from bot.retrieval.terms import query_terms
from bot.settings import PACKAGED_EMBEDDING_MODEL, Settings

Request = Callable[[str, Vector], Awaitable[list[dict[str, Any]]]]
Bm25Body = Callable[[str, Sequence[str], int, q.Bm25Boosts], dict[str, Any]]
MODES = ("bm25", "knn", "hybrid")


def _per_field(kb: str, terms: Sequence[str], top_n: int, boosts: q.Bm25Boosts) -> dict[str, Any]:
    """Candidate: one `match` per field (per-field BM25, as `multi_match` most_fields)."""
    text = " ".join(terms)
    should = [
        {"match": {name: {"query": text, "boost": float(boost) * share}}}
        for suffix, share in (("", 1.0), (".std", q.EXACT_FIELD_SHARE))
        for name, boost in (f.split("^") for f in boosts.fields(suffix))
    ]
    return {
        "size": min(top_n, q.MAX_RESULT_WINDOW),
        "track_total_hits": False,
        "query": {
            "bool": {"should": should, "minimum_should_match": 1, "filter": {"term": {"kb_id": kb}}}
        },
    }


def _stemmed_only(
    kb: str, terms: Sequence[str], top_n: int, boosts: q.Bm25Boosts
) -> dict[str, Any]:
    """Candidate: the shipped `combined_fields` without the unstemmed `.std` clause."""
    body = q.bm25_body(kb, terms, top_n, boosts)
    body["query"]["bool"]["should"] = body["query"]["bool"]["should"][:1]
    return body


def _cross_fields(
    kb: str, terms: Sequence[str], top_n: int, boosts: q.Bm25Boosts
) -> dict[str, Any]:
    """Candidate: `multi_match` cross_fields (term-centric, IDF blended across fields, each
    field its own length norm), stemmed and exact as the shipped query weighs them."""
    text = " ".join(terms)
    should = [
        {
            "multi_match": {
                "query": text,
                "type": "cross_fields",
                "fields": boosts.fields(suffix),
                "tie_breaker": 1.0,
                "boost": share,
            }
        }
        for suffix, share in (("", 1.0), (".std", q.EXACT_FIELD_SHARE))
    ]
    return {
        "size": min(top_n, q.MAX_RESULT_WINDOW),
        "track_total_hits": False,
        "query": {
            "bool": {"should": should, "minimum_should_match": 1, "filter": {"term": {"kb_id": kb}}}
        },
    }


LUCENE_ENGLISH_STOPWORDS = frozenset(
    """
    a an and are as at be but by for if in into is it no not of on or such that the their
    then there these they this to was will with
    """.split()  # noqa: SIM905 - the list as Lucene prints it
)
"""The English analyzer's default stop set (Lucene's `EnglishAnalyzer`, and the plugin's)."""


def _std_content_words(
    kb: str, terms: Sequence[str], top_n: int, boosts: q.Bm25Boosts
) -> dict[str, Any]:
    """Candidate: the shipped body, with the `.std` clause given only the words the
    stemmed fields also index (the English stop words, kept by `standard`, match most
    chunks there)."""
    body = q.bm25_body(kb, terms, top_n, boosts)
    content = [t for t in terms if t not in LUCENE_ENGLISH_STOPWORDS]
    should = body["query"]["bool"]["should"]
    if content:
        should[1]["combined_fields"]["query"] = " ".join(content)
    else:
        del should[1]
    return body


def _filter_clause(
    kb: str, terms: Sequence[str], top_n: int, boosts: q.Bm25Boosts
) -> dict[str, Any]:
    """The body before issue 13's fourth pass: the KB restriction as a `filter` clause of the
    query (same hits as the shipped `post_filter`, scored doc-at-a-time)."""
    body = q.bm25_body(kb, terms, top_n, boosts)
    body["query"]["bool"]["filter"] = body.pop("post_filter")
    return body


BM25_BODIES: dict[str, Bm25Body] = {
    "std-content-words": _std_content_words,
    "cross-fields": _cross_fields,
    "shipped": q.bm25_body,
    "per-field": _per_field,
    "stemmed-only": _stemmed_only,
    "filter-clause": _filter_clause,
}


@dataclass(frozen=True)
class Target:
    """A KB, the index queried for it, and the BM25 request body."""

    kb: str
    index: str
    body: str
    dfs: bool

    @property
    def label(self) -> str:
        where = self.kb if self.index.endswith(f"-kb-{self.kb}") else f"{self.kb}@{self.index}"
        return where if self.body == "shipped" else f"{where} [{self.body}]"


async def targets(
    es: ElasticsearchSearch, specs: Sequence[str], bodies: Sequence[str]
) -> list[Target]:
    found = []
    for spec in specs:
        kb, _, index = spec.partition("@")
        await es.indexes.require(kb)
        index = index or es.indexes.names(kb).alias
        settings = (await es.client.indices.get_settings(index=index)).body
        shards = max(int(s["settings"]["index"]["number_of_shards"]) for s in settings.values())
        found += [Target(kb, index, body, shards > 1) for body in bodies]
    return found


def requests(es: ElasticsearchSearch, target: Target, boosts: q.Bm25Boosts) -> dict[str, Request]:
    bm25_of = BM25_BODIES[target.body]
    search_type = "dfs_query_then_fetch" if target.dfs else None

    async def bm25(text: str, vector: Vector) -> dict[str, Any]:
        body = bm25_of(target.kb, query_terms(text), TOP_N, boosts)
        return dict(
            (await es.client.search(index=target.index, **body, search_type=search_type)).body
        )

    async def knn(text: str, vector: Vector) -> dict[str, Any]:
        body = q.knn_body(target.kb, vector, TOP_N, q.NUM_CANDIDATES_FACTOR)
        return dict((await es.client.search(index=target.index, **body)).body)

    async def hybrid(text: str, vector: Vector) -> list[dict[str, Any]]:
        return list(await asyncio.gather(bm25(text, vector), knn(text, vector)))

    return {
        "bm25": lambda t, v: _one(bm25, t, v),
        "knn": lambda t, v: _one(knn, t, v),
        "hybrid": hybrid,
    }


async def _one(
    call: Callable[[str, Vector], Awaitable[dict[str, Any]]], text: str, vector: Vector
) -> list[dict[str, Any]]:
    return [await call(text, vector)]


def ranked(response: dict[str, Any]) -> list[tuple[str, float]]:
    return [(hit["_id"], hit["_score"]) for hit in response["hits"]["hits"]]


def _same(
    mine: Sequence[list[list[tuple[str, float]]]],
    first: Sequence[list[list[tuple[str, float]]]],
    key: Callable[[list[list[tuple[str, float]]]], object],
) -> str:
    """Per retriever (BM25, kNN): questions whose list equals the first cell's, by `key`."""
    counts = [
        sum(key([a[j]]) == key([b[j]]) for a, b in zip(mine, first, strict=True)) for j in range(2)
    ]
    return f"{counts[0]}+{counts[1]}/{len(mine)}"


async def interleaved(
    es: ElasticsearchSearch,
    cells_of: Sequence[Target],
    questions: Sequence[tuple[str, Vector]],
    repeats: int,
    boosts: q.Bm25Boosts,
) -> list[dict[str, Any]]:
    cells = [(t, mode) for t in cells_of for mode in MODES]
    calls = {t: requests(es, t, boosts) for t in cells_of}
    wall: dict[tuple[Target, str], list[float]] = {cell: [] for cell in cells}
    cpu: dict[tuple[Target, str], list[float]] = {cell: [] for cell in cells}
    took: dict[tuple[Target, str], list[list[int]]] = {cell: [] for cell in cells}
    lists: dict[Target, list[list[list[tuple[str, float]]]]] = {t: [] for t in cells_of}
    for text, vector in questions[:10]:  # warm the JIT, caches and connections
        for t, mode in cells:
            await calls[t][mode](text, vector)
    for rep in range(repeats):
        for i, (text, vector) in enumerate(questions):
            shift = (i + rep) % len(cells)
            for t, mode in cells[shift:] + cells[:shift]:
                started, cpu_started = time.perf_counter(), time.process_time()
                responses = await calls[t][mode](text, vector)
                wall[t, mode].append((time.perf_counter() - started) * 1000)
                cpu[t, mode].append((time.process_time() - cpu_started) * 1000)
                took[t, mode].append([int(r["took"]) for r in responses])
                if rep == 0 and mode == "hybrid":
                    lists[t].append([ranked(r) for r in responses])
    rows = []
    first = lists[cells_of[0]]
    for t, mode in cells:
        took_by_request = np.asarray(took[t, mode])
        rows.append(
            {
                "kb": t.label,
                "request": mode,
                "n": len(wall[t, mode]),
                "p50_ms": round(percentile(wall[t, mode], 50), 2),
                "p95_ms": round(percentile(wall[t, mode], 95), 2),
                "client_cpu_p50_ms": round(percentile(cpu[t, mode], 50), 2),
                "took_p50_ms": [
                    float(np.percentile(took_by_request[:, j], 50))
                    for j in range(took_by_request.shape[1])
                ],
                "bm25+knn_lists_as_first": _same(lists[t], first, lambda x: x),
                "bm25+knn_scores_as_first": _same(lists[t], first, lambda x: [s for _, s in x[0]]),
            }
        )
    return rows


async def profiled(
    es: ElasticsearchSearch,
    target: Target,
    questions: Sequence[tuple[str, Vector]],
    boosts: q.Bm25Boosts,
) -> dict[str, float]:
    """Median milliseconds of each part of the node's work, from the profile API."""
    parts: dict[str, list[float]] = {}
    bm25_of = BM25_BODIES[target.body]
    for text, vector in questions:
        for mode, body in (
            ("bm25", bm25_of(target.kb, query_terms(text), TOP_N, boosts)),
            ("knn", q.knn_body(target.kb, vector, TOP_N, q.NUM_CANDIDATES_FACTOR)),
        ):
            search_type = "dfs_query_then_fetch" if target.dfs and mode == "bm25" else None
            response = (
                await es.client.search(
                    index=target.index, **body, search_type=search_type, profile=True
                )
            ).body
            shards = response["profile"]["shards"]
            found = {
                "took": float(response["took"]),
                "query": sum(
                    node["time_in_nanos"]
                    for shard in shards
                    for s in shard["searches"]
                    for node in s["query"]
                )
                / 1e6,
                "dfs knn": sum(
                    node["time_in_nanos"]
                    for shard in shards
                    for knn in shard.get("dfs", {}).get("knn", [])
                    for node in knn["query"]
                )
                / 1e6,
                "fetch": sum(shard.get("fetch", {}).get("time_in_nanos", 0) for shard in shards)
                / 1e6,
                "fetch: load_stored_fields": sum(
                    shard.get("fetch", {}).get("breakdown", {}).get("load_stored_fields", 0)
                    for shard in shards
                )
                / 1e6,
            }
            for part, ms in found.items():
                parts.setdefault(f"{mode} {part}", []).append(ms)
    return {part: round(percentile(ms, 50), 2) for part, ms in parts.items()}


SHAPES = ("full", "lean", "lean-cold")


class NodeTimes:
    """Records the node's `took` of every search a backend's client sends, and its `mget`s."""

    def __init__(self, es: ElasticsearchSearch) -> None:
        self.took: dict[str, list[int]] = {"bm25": [], "knn": []}
        self.searches = 0
        self.mgets = 0
        search, mget = es.client.search, es.client.mget

        async def recorded_search(**kwargs: Any) -> Any:
            response = await search(**kwargs)
            self.searches += 1
            self.took["knn" if "knn" in kwargs.get("query", {}) else "bm25"].append(
                int(response["took"])
            )
            return response

        async def recorded_mget(**kwargs: Any) -> Any:
            self.mgets += 1
            return await mget(**kwargs)

        es.client.search = recorded_search  # type: ignore[method-assign]
        es.client.mget = recorded_mget  # type: ignore[method-assign]


async def shapes(
    url: str,
    index_prefix: str,
    kb: str,
    info: IndexInfo,
    questions: Sequence[tuple[str, Vector]],
    repeats: int,
) -> list[dict[str, Any]]:
    """Each read shape on one KB, interleaved per question; see the module docstring."""
    backends = {
        shape: ElasticsearchSearch(
            url,
            index_prefix=index_prefix,
            timeout_s=30.0,
            chunk_cache_max_chunks=0 if shape == "full" else DEFAULT_MAX_CHUNKS,
        )
        for shape in SHAPES
    }
    try:
        return await _shapes(backends, kb, info, questions, repeats)
    finally:
        for es in backends.values():
            await es.close()


async def _shapes(
    backends: dict[str, ElasticsearchSearch],
    kb: str,
    info: IndexInfo,
    questions: Sequence[tuple[str, Vector]],
    repeats: int,
) -> list[dict[str, Any]]:
    async def run(shape: str, mode: str, text: str, vector: Vector) -> list[list[Hit]]:
        es = backends[shape]
        if shape == "lean-cold":
            es.hit_chunks.cache.clear()
        if mode == "bm25":
            return [await es.bm25(kb, text, TOP_N)]
        if mode == "knn":
            return [await es.knn(kb, vector, TOP_N, info)]
        return list(await asyncio.gather(es.bm25(kb, text, TOP_N), es.knn(kb, vector, TOP_N, info)))

    # The first pass warms the JIT, the connections and the lean shape's cache, from empty:
    # its hybrid wall times say what questions cost while the cache fills.
    first: dict[str, list[float]] = {shape: [] for shape in SHAPES}
    for i, (text, vector) in enumerate(questions):
        for shape in SHAPES[i % len(SHAPES) :] + SHAPES[: i % len(SHAPES)]:
            started = time.perf_counter()
            await run(shape, "hybrid", text, vector)
            first[shape].append((time.perf_counter() - started) * 1000)
    for shape in SHAPES:
        print(
            f"{shape}: first pass (lean: cache filling from empty), hybrid p50 / p95 "
            f"{percentile(first[shape], 50):.2f} / {percentile(first[shape], 95):.2f} ms"
        )
    times = {shape: NodeTimes(es) for shape, es in backends.items()}
    cells = [(shape, mode) for mode in MODES for shape in SHAPES]
    wall: dict[tuple[str, str], list[float]] = {cell: [] for cell in cells}
    cpu: dict[tuple[str, str], list[float]] = {cell: [] for cell in cells}
    same: dict[tuple[str, str], list[bool]] = {cell: [] for cell in cells}
    for rep in range(repeats):
        for i, (text, vector) in enumerate(questions):
            shift = (i + rep) % len(cells)
            lists: dict[tuple[str, str], list[list[Hit]]] = {}
            for shape, mode in cells[shift:] + cells[:shift]:
                started, cpu_started = time.perf_counter(), time.process_time()
                lists[shape, mode] = await run(shape, mode, text, vector)
                wall[shape, mode].append((time.perf_counter() - started) * 1000)
                cpu[shape, mode].append((time.process_time() - cpu_started) * 1000)
            for shape, mode in cells:
                same[shape, mode].append(lists[shape, mode] == lists["full", mode])
    rows = []
    for shape, mode in cells:
        rows.append(
            {
                "shape": shape,
                "request": mode,
                "n": len(wall[shape, mode]),
                "p50_ms": round(percentile(wall[shape, mode], 50), 2),
                "p95_ms": round(percentile(wall[shape, mode], 95), 2),
                "client_cpu_p50_ms": round(percentile(cpu[shape, mode], 50), 2),
                "lists_as_full": f"{sum(same[shape, mode])}/{len(same[shape, mode])}",
            }
        )
    for shape in SHAPES:
        took = times[shape].took
        calls = sum(len(wall[shape, mode]) * (2 if mode == "hybrid" else 1) for mode in MODES)
        print(
            f"{shape}: node took p50 BM25 {percentile(took['bm25'], 50):.0f} ms, kNN "
            f"{percentile(took['knn'], 50):.0f} ms; {times[shape].searches} searches and "
            f"{times[shape].mgets} mgets for {calls} retriever calls"
        )
    return rows


def shapes_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| request | shape | p50 ms | p95 ms | client CPU p50 ms | lists as full |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['request']} | {row['shape']} | {row['p50_ms']} | {row['p95_ms']} | "
            f"{row['client_cpu_p50_ms']} | {row['lists_as_full']} |"
        )
    return "\n".join(lines)


async def ingest_missing(url: str, index_prefix: str, kbs: Sequence[str]) -> None:
    """Write the Zulip help center into each KB that does not exist yet."""
    embedder = SentenceTransformerEmbedder(PACKAGED_EMBEDDING_MODEL)
    es = ElasticsearchSearch(url, index_prefix=index_prefix, timeout_s=30.0)
    try:
        missing = [kb for kb in kbs if await es.indexes.resolve(kb) is None]
        if not missing:
            return
        corpus = load_zulip(REPO.parent / "shared" / "eval" / "zulip-help", embedder, "x")
        for kb in missing:
            write_s, commit_s = await ingest(
                es, kb, embedder.index_info(), with_kb(corpus.documents, kb)
            )
            print(f"ingested {corpus.chunks} chunks into {kb} ({write_s + commit_s:.1f} s)")
    finally:
        await es.close()


async def main(args: argparse.Namespace) -> None:
    embedder = SentenceTransformerEmbedder(PACKAGED_EMBEDDING_MODEL)
    labelled = [json.loads(line) for line in args.queries.read_text().splitlines() if line]
    texts = [item["query"] for item in labelled][: args.questions]
    questions = [(text, embedder.embed_query(text)) for text in texts]
    if args.ingest:
        await ingest_missing(args.url, args.index_prefix, args.kb)
    if args.shapes:
        for kb in args.kb:
            rows = await shapes(
                args.url, args.index_prefix, kb, embedder.index_info(), questions, args.repeats
            )
            load = os.getloadavg()
            print(f"{kb}: load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end")
            print(shapes_table(rows))
        return
    settings = Settings(_env_file=None)
    boosts = q.Bm25Boosts(
        settings.bm25_boost_title, settings.bm25_boost_headings, settings.bm25_boost_body
    )
    es = ElasticsearchSearch(args.url, index_prefix=args.index_prefix, timeout_s=30.0)
    try:
        cells = await targets(es, args.kb, args.bm25 or ["shipped"])
        rows = await interleaved(es, cells, questions, args.repeats, boosts)
        load = os.getloadavg()
        print(f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end")
        for row in rows:
            print(json.dumps(row))
        if args.profile:
            for target in cells:
                profile = await profiled(es, target, questions[: args.profile], boosts)
                print(target.label, json.dumps(profile))
    finally:
        await es.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="An Elasticsearch node holding the KBs.")
    parser.add_argument(
        "--kb",
        action="append",
        required=True,
        help="A benchmark KB, or KB@INDEX for a copy of it; repeat to compare.",
    )
    parser.add_argument(
        "--bm25",
        action="append",
        choices=sorted(BM25_BODIES),
        help="BM25 request body; repeat to compare (default: shipped).",
    )
    parser.add_argument("--index-prefix", default="bench", help="Their index prefix.")
    parser.add_argument(
        "--queries", type=Path, default=REPO.parent / "shared" / "eval" / "zulip-dev.jsonl"
    )
    parser.add_argument("--questions", type=int, default=192, help="How many questions.")
    parser.add_argument("--repeats", type=int, default=2, help="Passes over the questions.")
    parser.add_argument(
        "--profile", type=int, default=0, help="Also profile this many questions per KB."
    )
    parser.add_argument(
        "--shapes",
        action="store_true",
        help="Compare the full and lean (chunk cache) ways of reading hits on each KB.",
    )
    parser.add_argument(
        "--ingest",
        action="store_true",
        help="First write the Zulip help center into every --kb that does not exist.",
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
