"""The code graph recall spreads along, over the read model's edge arrays: symbols and
files as nodes, one edge per ordered pair (the heaviest, by kind and by how confidently
it was resolved), plus the semantic edges that are fresh, laid over them."""

from __future__ import annotations

import numpy as np

from indexers.readmodel import ReadModel
from indexers.types import SemanticEdge


class CodeGraph:
    """Adjacency by node id, in the order a graph built edge by edge would give: a pair's
    edge sits where the pair first appeared, and carries the heaviest of its edges (the
    first of equals)."""

    def __init__(self, rm: ReadModel | None, ids: list[str], kind_weight: dict[str, float]):
        self.ids = ids
        self.index = {sid: i for i, sid in enumerate(ids)}
        self._kind_weight = kind_weight
        self._semantic: dict[tuple[int, int], dict] = {}  # (src, dst) -> data, in the order laid over
        self._semantic_out: dict[int, list[int]] = {}
        self._semantic_in: dict[int, list[int]] = {}
        if rm is None or not len(rm.array("edge.src")):
            empty = np.zeros(0, dtype=np.int64)
            self._src = self._dst = self._kind = self._res = empty
            self._weight = np.zeros(0)
            self._kinds: list[str] = []
            self._resolutions: list[str] = []
        else:
            self._kinds = rm.strings("edge.kinds").all()
            self._resolutions = rm.strings("edge.resolutions").all()
            src = np.asarray(rm.array("edge.src"), dtype=np.int64)
            dst = np.asarray(rm.array("edge.dst"), dtype=np.int64)
            kind = np.asarray(rm.array("edge.kind"))
            weight = np.array([kind_weight.get(k, 0.5) for k in self._kinds])[kind] * rm.array("edge.confidence")
            key = src * len(ids) + dst
            order = np.lexsort((np.arange(len(key)), -weight, key))
            starts = np.flatnonzero(np.r_[True, key[order][1:] != key[order][:-1]])
            winner = order[starts]  # per pair: the heaviest edge, first of equals
            place = np.minimum.reduceat(order, starts)  # per pair: where it first appeared
            keep = winner[np.argsort(place, kind="stable")]
            self._src, self._dst = src[keep], dst[keep]
            self._kind, self._res = kind[keep], np.asarray(rm.array("edge.resolution"))[keep]
            self._weight = weight[keep]
        n = len(ids)
        self._out = np.argsort(self._src, kind="stable")
        self._out_ptr = np.searchsorted(self._src[self._out], np.arange(n + 1))
        self._in = np.argsort(self._dst, kind="stable")
        self._in_ptr = np.searchsorted(self._dst[self._in], np.arange(n + 1))
        self._pair: dict[tuple[int, int], int] | None = None

    def __contains__(self, sid: str) -> bool:
        return sid in self.index

    def __iter__(self):
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def number_of_edges(self) -> int:
        return len(self._src) + sum(1 for pair in self._semantic if self._code_edge(*pair) is None)

    def _data(self, e: int) -> dict:
        return {"weight": float(self._weight[e]), "kind": self._kinds[self._kind[e]],
                "resolution": self._resolutions[self._res[e]]}

    def _code_edge(self, a: int, b: int) -> int | None:
        if self._pair is None:
            self._pair = {(int(s), int(d)): e for e, (s, d) in enumerate(zip(self._src.tolist(), self._dst.tolist()))}
        return self._pair.get((a, b))

    def _side(self, u: int, out: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
        """u's edges out (or in): other ends, weights, and the semantic data laid over
        each (None for a code edge), in the graph's order."""
        ptr, order, ends = (self._out_ptr, self._out, self._dst) if out else (self._in_ptr, self._in, self._src)
        edges = order[ptr[u] : ptr[u + 1]]
        others = ends[edges]
        weights = self._weight[edges]
        overlay = [None] * len(edges)
        if self._semantic:
            for i, other in enumerate(others.tolist()):
                data = self._semantic.get((u, other) if out else (other, u))
                if data is not None:
                    overlay[i] = data
                    weights[i] = data["weight"]
            added = (self._semantic_out if out else self._semantic_in).get(u, ())
            if added:
                others = np.concatenate([others, np.array(added, dtype=others.dtype)])
                extra = [self._semantic[(u, o) if out else (o, u)] for o in added]
                weights = np.concatenate([weights, [d["weight"] for d in extra]])
                overlay += extra
                edges = np.concatenate([edges, np.full(len(added), -1, dtype=edges.dtype)])
        return edges, others, weights, overlay

    def strongest(self, sid: str, out: bool, limit: int) -> list[tuple[str, float, dict]]:
        """(node, weight, edge data) of the ``limit`` heaviest edges out of (or into)
        ``sid``, heaviest first, the graph's order among equals."""
        edges, others, weights, overlay = self._side(self.index[sid], out)
        top = np.argsort(-weights, kind="stable")[:limit].tolist()
        ids = self.ids
        return [(ids[others[i]], float(weights[i]), overlay[i] or self._data(int(edges[i]))) for i in top]

    def successors(self, sid: str) -> list[tuple[str, dict]]:
        """(node, edge data) of the edges out of ``sid``: what it calls, extends, uses, contains."""
        edges, others, _, overlay = self._side(self.index[sid], True)
        return [(self.ids[o], overlay[i] or self._data(int(edges[i]))) for i, o in enumerate(others.tolist())]

    def predecessors(self, sid: str) -> list[tuple[str, dict]]:
        """(node, edge data) of the edges into ``sid``."""
        edges, others, _, overlay = self._side(self.index[sid], False)
        return [(self.ids[o], overlay[i] or self._data(int(edges[i]))) for i, o in enumerate(others.tolist())]

    def edge(self, src: str, dst: str) -> dict | None:
        a, b = self.index.get(src), self.index.get(dst)
        if a is None or b is None:
            return None
        data = self._semantic.get((a, b))
        if data is not None:
            return data
        e = self._code_edge(a, b)
        return None if e is None else self._data(e)

    def set_semantic(self, edges: list[SemanticEdge]) -> set[str]:
        """Lay these semantic edges over the code edges (replacing the previous ones): one
        goes where no edge is, or replaces a lighter edge of the same pair. Returns the
        ends of every semantic edge laid, before and after."""
        touched = {self.ids[n] for pair in self._semantic for n in pair}
        self._semantic, self._semantic_out, self._semantic_in = {}, {}, {}
        w_semantic = self._kind_weight["semantic"]
        for e in edges:
            a, b = self.index.get(e.src), self.index.get(e.dst)
            if a is None or b is None or a == b:
                continue
            w = w_semantic * e.confidence
            current = self.edge(e.src, e.dst)
            if current is not None and current["weight"] >= w:
                continue
            if (a, b) not in self._semantic and self._code_edge(a, b) is None:
                self._semantic_out.setdefault(a, []).append(b)
                self._semantic_in.setdefault(b, []).append(a)
            self._semantic[(a, b)] = {"weight": w, "kind": "semantic", "resolution": e.provenance,
                                      "relation": e.relation, "reason": e.reason}
        touched |= {self.ids[n] for pair in self._semantic for n in pair}
        return touched

    def semantic_partners(self) -> dict[str, list[tuple[str, dict]]]:
        """Each end of a semantic edge laid over the graph -> (the other end, edge data)."""
        partners: dict[str, list[tuple[str, dict]]] = {}
        for (a, b), data in self._semantic.items():
            partners.setdefault(self.ids[a], []).append((self.ids[b], data))
            partners.setdefault(self.ids[b], []).append((self.ids[a], data))
        return partners

    def semantic_pairs(self) -> int:
        """Pairs linked by a semantic edge."""
        return len(self._semantic)
