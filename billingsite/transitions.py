"""The transition-map type shared by every model with a status (invoices, refunds, disputes).

A map names, for each status, the statuses it may move to; a status with no way out is final.
The model's ``*_transition`` service applies a move with one conditional UPDATE
(``WHERE status IN sources_of(target)``) plus an audit record, so two callers racing on one
row cannot both move it; a bulk ``update()`` of such a model belongs only in that service.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping


class TransitionMap(Mapping[str, frozenset[str]]):
    """``{status: statuses it may move to}``; read like a dict (``map[status]``)."""

    def __init__(self, moves: Mapping[str, Iterable[str]]) -> None:
        self._moves = {
            str(source): frozenset(map(str, targets)) for source, targets in moves.items()
        }
        unknown = {t for targets in self._moves.values() for t in targets} - set(self._moves)
        if unknown:
            raise ValueError(f"Targets without an entry of their own: {sorted(unknown)}")

    def __getitem__(self, status: str) -> frozenset[str]:
        return self._moves[status]

    def __iter__(self) -> Iterator[str]:
        return iter(self._moves)

    def __len__(self) -> int:
        return len(self._moves)

    def allows(self, current: str, target: str) -> bool:
        return target in self._moves.get(current, frozenset())

    def sources_of(self, target: str) -> frozenset[str]:
        """Statuses from which ``target`` may be reached."""
        return frozenset(src for src, targets in self._moves.items() if target in targets)

    def final(self) -> frozenset[str]:
        """Statuses with no way out."""
        return frozenset(src for src, targets in self._moves.items() if not targets)
