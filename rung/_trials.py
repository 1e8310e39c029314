"""`ExperimentResult.trials`: the trials of a result, read from the store in pages when asked.

A million stored trials made 4 GB of `Trial` objects, read for 86 s before `rung.run` returned. An
experiment of up to `EAGER` trials is still read whole when its result is made (as before: such a
result needs its store no more, and the folder may go); a larger one is read only as asked: pages of
`PAGE` trials (the last `CACHED_PAGES` read are kept), and the best trial by SQL over the store's
JSON columns (one row decoded, not every one). A large result needs its store for as long as it
is used.

The trials a large result holds are those stored when it was made (ids up to the largest then);
their fields are read when first asked (a trial still running then may have moved on).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from rung._numbers import finite
from rung.store.sqlite import Store

__all__ = ["CACHED_PAGES", "EAGER", "PAGE", "Trials"]

EAGER = 16_384
PAGE = 1024
CACHED_PAGES = 16
_T = TypeVar("_T")
_CANDIDATES = 16  # ranked values read at a time: the first is nearly always the best


class Trials(Sequence[_T], Generic[_T]):
    """The trials of one experiment in id order, read from its store a page at a time.

    A sequence (`len`, indexing, slices, iteration, `==` with a list of the same trials): what a
    list of every trial gave, without holding every trial in memory.

    Args:
        storage, name: the experiment's store.
        build: makes a `Trial` from a stored row (see `Store.trials`) and the trial's checkpoint file.
        objects: unpickle configs that hold objects (a trusted result).
    """

    def __init__(
        self, storage: str | Path, name: str, build: Callable[[dict[str, Any], Path | None], _T], objects: bool
    ) -> None:
        self._storage, self._name, self._build, self._objects = storage, name, build, objects
        self._all: list[_T] | None = None  # every trial, read when the result was made (at most EAGER)
        store = Store.read(storage, name)
        try:
            count, low, high = store.trial_span()
            if count <= EAGER:
                paths = store.checkpoint_paths()
                self._all = [build(row, paths.get(row["id"])) for row in store.trials(objects, last=high)]
                count = len(self._all)
        finally:
            store.close()
        self._count, self._low, self._high = count, low, high
        # Ids 1..count (how the tuner numbers trials): page p holds ids p*PAGE+1 ..; else by offset.
        self._dense = count == 0 or (low == 1 and high == count)
        self._pages: OrderedDict[int, list[_T]] = OrderedDict()

    @property
    def loaded(self) -> bool:
        """Whether every trial was read when the result was made (an experiment of at most `EAGER`)."""
        return self._all is not None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_pages": OrderedDict()}  # pickled without the pages read

    def __len__(self) -> int:
        return self._count

    @property
    def span(self) -> tuple[int, int] | None:
        """The smallest and largest trial id (None without trials)."""
        return None if self._count == 0 else (self._low, self._high)

    @overload
    def __getitem__(self, index: int) -> _T: ...

    @overload
    def __getitem__(self, index: slice) -> list[_T]: ...

    def __getitem__(self, index: int | slice) -> _T | list[_T]:
        if self._all is not None:
            return self._all[index]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if not isinstance(index, int):
            raise TypeError(f"trial indices must be integers or slices; got {type(index).__name__}")
        position = index + self._count if index < 0 else index
        if not 0 <= position < self._count:
            raise IndexError(f"trial index {index} out of range: the result has {self._count} trials")
        return self._page(position // PAGE)[position % PAGE]

    def __iter__(self) -> Iterator[_T]:
        if self._all is not None:
            yield from self._all
            return
        for page in range((self._count + PAGE - 1) // PAGE):
            yield from self._page(page)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Trials | list | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-looking, like the list it stands for

    def __repr__(self) -> str:
        how = "read when the result was made" if self._all is not None else "read from its store when asked"
        return f"<{self._count} trials of experiment {self._name!r}, {how}>"

    def by_id(self, trial_id: int) -> _T | None:
        """The trial with this id, or None if the result has none."""
        if self._count == 0 or not self._low <= trial_id <= self._high:
            return None
        if self._dense:
            return self[trial_id - 1]
        if self._all is not None:
            return next((t for t in self._all if getattr(t, "id", None) == trial_id), None)
        store = Store.read(self._storage, self._name)
        try:
            rows = store.trials(self._objects, first=trial_id, last=trial_id)
            paths = store.checkpoint_paths(first=trial_id, last=trial_id)
        finally:
            store.close()
        return self._build(rows[0], paths.get(trial_id)) if rows else None

    def _page(self, page: int) -> list[_T]:
        cached = self._pages.get(page)
        if cached is not None:
            self._pages.move_to_end(page)
            return cached
        store = Store.read(self._storage, self._name)
        try:
            if self._dense:
                first, last = page * PAGE + 1, min((page + 1) * PAGE, self._count)
                rows = store.trials(self._objects, first=first, last=last)
            else:
                rows = store.trials(self._objects, last=self._high, limit=PAGE, offset=page * PAGE)
                first, last = (rows[0]["id"], rows[-1]["id"]) if rows else (0, -1)
            paths = store.checkpoint_paths(first=first, last=last)
        finally:
            store.close()
        trials = [self._build(row, paths.get(row["id"])) for row in rows]
        self._pages[page] = trials
        if len(self._pages) > CACHED_PAGES:
            self._pages.popitem(last=False)
        return trials

    def best_id(self, metric: str, mode: str, scope: str) -> int | None:
        """The id of the trial with the best finite value of `metric` in its best result (scope
        "all") or last result ("last"); ties go to the lowest id. SQLite ranks the values; the
        candidates are decoded and checked in that order by rung's own rule (`finite`), so the answer
        is the one a loop over every trial gives."""
        if self._count == 0:
            return None
        column = "best_result" if scope == "all" else "last_result"
        store = Store.read(self._storage, self._name)
        try:
            offset = 0
            while candidates := store.ranked(
                column, metric, descending=mode == "max", last=self._high, limit=_CANDIDATES, offset=offset
            ):
                for trial_id, _ in candidates:
                    # Judged as decoded in Python (SQLite reads JSON true as 1, which is no number).
                    row = store.trials(first=trial_id, last=trial_id)[0]
                    if finite((row[column] or {}).get(metric)):
                        return int(trial_id)
                offset += len(candidates)
        finally:
            store.close()
        return None
