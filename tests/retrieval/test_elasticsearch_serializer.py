"""FastJsonSerializer: orjson speed without changing a request or failing one the standard
library's JSON accepted."""

from __future__ import annotations

import json

import numpy as np
from elasticsearch.serializer import JsonSerializer

from bot.domain import Chunk
from bot.retrieval.elasticsearch.mapping import chunk_source
from bot.retrieval.elasticsearch.queries import knn_body
from bot.retrieval.elasticsearch.serializer import FastJsonSerializer


def test_the_query_vector_reaches_the_node_as_the_same_numbers() -> None:
    vector = np.random.default_rng(7).standard_normal(384).astype(np.float32)
    vector /= np.linalg.norm(vector)
    sent = json.loads(FastJsonSerializer().dumps(knn_body("kb", vector, 50, 4)))
    as_before = json.loads(JsonSerializer().dumps([float(x) for x in vector]))
    query_vector = sent["query"]["knn"]["query_vector"]
    assert query_vector == as_before
    assert np.array_equal(np.asarray(query_vector, dtype=np.float32), vector)


def test_an_indexed_vector_goes_as_the_same_float32_in_fewer_bytes() -> None:
    vector = np.random.default_rng(8).standard_normal(384).astype(np.float32)
    vector /= np.linalg.norm(vector)
    chunk = Chunk("kb", "a.md", 0, "Title", ("Heading",), "Body text.", None, "hash")
    source = chunk_source(chunk, vector, "2024-01-01T00:00:00+00:00")
    sent = FastJsonSerializer().dumps(source)
    assert np.array_equal(np.asarray(json.loads(sent)["embedding"], dtype=np.float32), vector)
    as_before = JsonSerializer().dumps({**source, "embedding": [float(x) for x in vector]})
    assert len(sent) < 0.7 * len(as_before)


def test_text_orjson_refuses_takes_the_standard_path() -> None:
    body = {"query": {"terms": {"source_id": ["caf\udce9.md", "plain.md"]}}}
    assert FastJsonSerializer().dumps(body) == JsonSerializer().dumps(body)
    escaped = b'{"hits": {"hits": [{"_source": {"source_id": "caf\\udce9.md"}}]}}'
    assert FastJsonSerializer().loads(escaped) == JsonSerializer().loads(escaped)


def test_ordinary_bodies_round_trip() -> None:
    body = {"size": 3, "query": {"match": {"body": "déjà vu 🎉"}}, "boost": 0.3, "x": None}
    assert json.loads(FastJsonSerializer().dumps(body)) == body
