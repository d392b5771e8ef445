"""Judge each distinct flash state once: verdicts cached on the flash blocks a judgement actually read.

Judging a cut state is deterministic: a fresh board (RAM lost) runs on the two flash arrays and nothing
else. So a judgement depends only on the bytes it *read before overwriting them*; two states that agree
on those bytes get the same verdict, whatever the rest of the flash holds (the data clusters of a
half-downloaded image that nobody reads, the application pages the bootloader erases before it programs
them). A full-state hash would see every one of a download's 15,000 states as new; this sees that the
bootloader, the application and the volume check read the same blocks.

* :class:`BlockDigests` keeps a 16-byte BLAKE2b digest per 4 KiB block of a flash array, updated only
  where an operation wrote, so a state's digests cost nothing to look up.
* :class:`ReadSet` watches one judgement (``NorFlash.read_observer`` and ``NorFlash.observer``) and
  collects the blocks it depended on: a block read, or programmed (a program ANDs with the old bytes),
  before the run erased it whole. A block erased first is the run's own output, not an input.
* :class:`VerdictMemo` maps (the set of blocks, their digests in the judged state) to the verdict. A new
  state is looked up under each block set seen so far (most recently useful first); a hit is a state whose
  judgement would read exactly the same bytes, hence run exactly the same way.
* Sharing between workers: a memo made with ``journal=True`` keeps the entries it stored itself (block
  sets, key, verdict) until :meth:`VerdictMemo.take` hands them out; :meth:`VerdictMemo.merge` adds
  another worker's. An entry is as true in any worker as in the one that judged it (the same bytes read,
  the same run), so a verdict never depends on who judged it. :func:`learnt` and :func:`learn` are the
  hooks a sweep gives its :class:`~harness.sweeps.executor.Work` for any worker context with a ``memo``.

The block size is the smallest erase unit of both parts (4 KiB), so "erased whole" is exact. Digests are
BLAKE2b-128: a false hit needs a digest collision. The cache is only as sound as the rule that the model
reads flash through ``NorFlash.read`` (never ``flash.data`` directly; a native bootloader, which maps the
flash into its own process, reports the first touch of each 4 KiB block to ``read_observer`` instead, see
:mod:`harness.native.bootloader_program`): ``tests/test_sweep_memo.py`` checks that rule in the source and
compares cached verdicts with the uncached path. This module judges nothing itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Protocol

from bootloader_model.storage.nor_flash import NorFlash

BLOCK = 4096
BLOCK_SHIFT = 12
#: How many block sets a lookup tries (most recently useful first) before judging the state afresh.
MAX_PROBES = 48


def block_digest(data: bytes | bytearray | memoryview) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


class BlockDigests:
    """Per-block digests of one flash array's contents."""

    def __init__(self, data: bytes | bytearray) -> None:
        view = memoryview(data)
        self.digests = [block_digest(view[i : i + BLOCK]) for i in range(0, len(data), BLOCK)]

    def refresh(self, data: bytes | bytearray, offset: int, length: int) -> None:
        """Recompute the blocks that bytes ``offset .. offset+length-1`` fall in."""
        view = memoryview(data)
        for b in range(offset >> BLOCK_SHIFT, ((offset + max(length, 1) - 1) >> BLOCK_SHIFT) + 1):
            self.digests[b] = block_digest(view[b * BLOCK : (b + 1) * BLOCK])

    def copy(self) -> BlockDigests:
        return BlockDigests.of(self.digests)

    @classmethod
    def of(cls, digests: Sequence[bytes]) -> BlockDigests:
        """Digests known already (a copy of the list is kept)."""
        twin = cls.__new__(cls)
        twin.digests = list(digests)
        return twin


def touched(flash: NorFlash, kind: str, address: int, length: int) -> tuple[int, int]:
    """(offset, length) of the bytes an erase of ``kind`` or a program of ``length`` bytes at ``address`` changes."""
    offset = address - flash.geometry.base
    if kind.startswith("erase"):
        return offset, flash.geometry.erase_units[kind.partition(":")[2]]
    return offset, length


class ReadSet:
    """The blocks of one flash a run depended on; attach with :meth:`watch`, detach with :meth:`release`."""

    def __init__(self, flash: NorFlash) -> None:
        if flash.geometry.min_erase % BLOCK:
            raise ValueError(f"{flash.geometry.name}: erase unit is not a multiple of {BLOCK}")
        self.flash = flash
        self.base = flash.geometry.base
        self.erased = bytearray(flash.geometry.size >> BLOCK_SHIFT)
        self.inputs: set[int] = set()

    def watch(self) -> ReadSet:
        self.flash.read_observer = self._read
        self.flash.observer = self.on_op
        return self

    def release(self) -> None:
        self.flash.read_observer = None
        self.flash.observer = None

    def _depend(self, offset: int, length: int) -> None:
        first = offset >> BLOCK_SHIFT
        last = (offset + max(length, 1) - 1) >> BLOCK_SHIFT
        erased = self.erased
        if first == last:  # nearly every read and program stays inside one block
            if not erased[first]:
                self.inputs.add(first)
            return
        for b in range(first, last + 1):
            if not erased[b]:
                self.inputs.add(b)

    def _read(self, address: int, length: int) -> None:
        self._depend(address - self.base, length)

    def on_op(self, flash: NorFlash, kind: str, address: int, data: bytes) -> None:
        """An erase or program of the watched run (the ``NorFlash.observer`` signature)."""
        if kind == "program":
            self._depend(address - self.base, len(data))
            return
        offset, length = touched(flash, kind, address, 0)
        self.erased[offset >> BLOCK_SHIFT : (offset + length) >> BLOCK_SHIFT] = b"\x01" * (length >> BLOCK_SHIFT)

    def blocks(self) -> tuple[int, ...]:
        return tuple(sorted(self.inputs))


@dataclass
class _Signature:
    """One set of input blocks per flash, with a fast way to gather their digests."""

    blocks: tuple[tuple[int, ...], ...]
    tag: bytes
    getters: list[Callable[[Sequence[bytes]], Any] | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.getters = [itemgetter(*b) if b else None for b in self.blocks]

    def key(self, views: Sequence[Sequence[bytes]]) -> bytes:
        h = hashlib.blake2b(self.tag, digest_size=16)
        for get, blocks, digests in zip(self.getters, self.blocks, views, strict=True):
            if get is None:
                continue
            got = get(digests)
            h.update(got if len(blocks) == 1 else b"".join(got))
        return h.digest()


Blocks = tuple[tuple[int, ...], ...]  # the input blocks of one judgement, per flash
#: One learnt verdict as it travels between workers: its block sets, its key, the verdict.
Entry = tuple[Blocks, bytes, object]


class VerdictMemo:
    """Verdicts by (input blocks, their digests). ``V`` is whatever a judgement returns.

    With ``journal`` the entries :meth:`store` adds are also kept for :meth:`take` (to share them).
    """

    def __init__(self, *, journal: bool = False) -> None:
        self._signatures: list[_Signature] = []
        self._by_blocks: dict[Blocks, _Signature] = {}
        self._table: dict[bytes, object] = {}
        self._journal: list[Entry] | None = [] if journal else None
        self.hits = 0
        self.misses = 0
        self.merged = 0  # entries learnt from other workers

    def lookup(self, views: Sequence[Sequence[bytes]]) -> object | None:
        """The cached verdict of a state whose block digests are ``views`` (one list per flash), or None."""
        sigs = self._signatures
        for i, sig in enumerate(sigs[:MAX_PROBES]):
            found = self._table.get(sig.key(views))
            if found is not None:
                if i:
                    sigs.insert(0, sigs.pop(i))  # most recently useful first
                self.hits += 1
                return found
        self.misses += 1
        return None

    def _signature(self, blocks: Blocks, *, recent: bool) -> _Signature:
        sig = self._by_blocks.get(blocks)
        if sig is None:
            tag = hashlib.blake2b(repr(blocks).encode(), digest_size=16).digest()
            sig = self._by_blocks[blocks] = _Signature(blocks, tag)
            # A set this worker just met goes first; one learnt from elsewhere waits at the end of the
            # probes (within MAX_PROBES) until a lookup finds it useful.
            self._signatures.insert(0 if recent else min(len(self._signatures), MAX_PROBES - 1), sig)
        return sig

    def store(self, blocks: Blocks, views: Sequence[Sequence[bytes]], verdict: object) -> None:
        sig = self._signature(blocks, recent=True)
        key = sig.key(views)
        self._table[key] = verdict
        if self._journal is not None:
            self._journal.append((blocks, key, verdict))

    def take(self) -> list[Entry]:
        """The entries stored since the last call (none without ``journal``)."""
        if not self._journal:
            return []
        out, self._journal = self._journal, []
        return out

    def merge(self, entries: Sequence[Entry]) -> None:
        """Add entries another memo stored (:meth:`take`); they are not journalled again."""
        for blocks, key, verdict in entries:
            self._signature(blocks, recent=False)
            if self._table.setdefault(key, verdict) is verdict:
                self.merged += 1

    @property
    def signatures(self) -> int:
        return len(self._signatures)


class HasMemo(Protocol):
    """A worker context with a verdict cache (or None when the sweep judges every state in full)."""

    @property
    def memo(self) -> VerdictMemo | None: ...


def learnt(context: HasMemo) -> list[Entry]:
    """The entries ``context``'s memo stored since the last call: what to pass on to the other workers."""
    return context.memo.take() if context.memo is not None else []


def learn(context: HasMemo, entries: Sequence[Entry]) -> None:
    """Add ``entries`` another worker learnt to ``context``'s memo."""
    if context.memo is not None:
        context.memo.merge(entries)
