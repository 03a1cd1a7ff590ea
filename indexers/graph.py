"""The code graph in networkx: symbols and files as nodes, resolved edges weighted by
kind and by how confidently they were resolved."""

from __future__ import annotations

import networkx as nx

from .types import Edge, SemanticEdge, Symbol, symbol_id

# How much activation an edge of each kind carries (tuned with benchmarks/localize.py).
KIND_WEIGHT = {"call": 1.0, "inherit": 0.8, "import": 0.3, "contain": 0.5, "semantic": 0.7, "type": 0.5}


def build_graph(symbols: list[Symbol], edges: list[Edge], paths: list[str]) -> nx.DiGraph:
    g = nx.DiGraph()
    for path in paths:
        g.add_node(symbol_id(path, ""))
    for sym in symbols:
        g.add_node(sym.id)
    add_code_edges(g, edges)
    return g


def add_code_edges(g: nx.DiGraph, edges: list[Edge]) -> None:
    for e in edges:
        if e.src in g and e.dst in g:
            w = KIND_WEIGHT.get(e.kind, 0.5) * e.confidence
            data = g.get_edge_data(e.src, e.dst)
            if data is None or data["weight"] < w:
                g.add_edge(e.src, e.dst, weight=w, kind=e.kind, resolution=e.resolution)


def add_semantic_edges(g: nx.DiGraph, edges: list[SemanticEdge]) -> int:
    """Add fresh semantic edges (the caller drops stale ones); returns how many were added."""
    added = 0
    for e in edges:
        if e.src in g and e.dst in g and e.src != e.dst:
            w = KIND_WEIGHT["semantic"] * e.confidence
            data = g.get_edge_data(e.src, e.dst)
            if data is None or data["weight"] < w:
                g.add_edge(e.src, e.dst, weight=w, kind="semantic", resolution=e.provenance, relation=e.relation, reason=e.reason)
                added += 1
    return added
