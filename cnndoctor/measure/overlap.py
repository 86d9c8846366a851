"""Shared stretches between test and training windows, at any shift, in linear time.

Windows cut with overlap from one recording share stretches of signal at shifted positions.
Comparing every test window with every training window at every shift is quadratic; instead

1. **anchors**: positions chosen by the signal's own content, so the same stretch yields the same
   anchors whatever window it sits in and wherever it sits there;
2. **keys**: a hash of a few values around each anchor; every training anchor goes into one sorted
   table (one pass over the training windows), and the anchors of the test windows are looked up;
3. **verification**: a hit proposes (test window, training window, shift); the whole overlap of
   the two windows at that shift is compared on the real values.

Two anchor/key schemes cover the two ways windows are stored:

- ``exact``: windows hold the recording's values (raw, or scaled with one global transform):
  anchors where a hash of two consecutive values' bits has its top bits zero (about
  ``_ANCHORS_PER_WINDOW`` per window), keys from the bits of the next ``_KEY_LEN`` values, and
  verification by bitwise equality of the overlap;
- ``rescaled``: each window was standardised on its own (per-window z-score), so shared stretches
  differ by an offset and a gain: anchors are the maxima of their neighbourhood (±``h`` steps),
  keys the z-normalised values at fixed offsets around the anchor, cut into 8 levels, and
  verification an affine fit of the overlap whose residual must be at float-rounding level.

The test windows examined are sampled (at most ``max_test``); the training windows are all indexed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["OverlapScan", "looks_rescaled_per_window", "scan_window_overlap"]

_ANCHORS_PER_WINDOW = 16
_KEY_LEN = 6
_PER_ANCHOR = 4  # training anchors followed per test anchor
_PER_WINDOW = 3  # (training window, shift) candidates verified per test window
_CHUNK = 4 * 2**20  # values per chunk of windows
_AFFINE_TOL = 1e-4  # relative residual of the affine fit: float32 rounding of a rescaled copy


@dataclass
class OverlapScan:
    mode: str  # "exact" or "rescaled"
    length: int
    n_train: int
    n_test: int
    checked: np.ndarray  # indices of the test windows examined
    partner: np.ndarray  # (len(checked),) training window sharing the longest stretch, -1 if none
    shift: np.ndarray  # (len(checked),) shift of that stretch in steps (test position - train position)
    overlap: np.ndarray  # (len(checked),) length of that shared stretch in steps (0 if none)
    min_overlap: int
    anchors_per_window: float
    notes: list[str] = field(default_factory=list)

    @property
    def leaked(self) -> np.ndarray:
        return self.overlap > 0

    @property
    def fraction(self) -> float:
        return float(self.leaked.mean()) if len(self.checked) else 0.0


def looks_rescaled_per_window(mean: np.ndarray, std: np.ndarray) -> bool:
    """True when (nearly) every window has mean 0 and std 1: each window was standardised on its own."""
    ok = std > 0
    if ok.sum() < 2:
        return False
    return bool(np.mean((np.abs(mean[ok]) < 1e-3) & (np.abs(std[ok] - 1) < 1e-2)) > 0.9)


def _exact_anchors(S: np.ndarray, bits: int):
    """(rows, positions, keys) of the exact scheme for windows ``S`` (n, L) float32."""
    L = S.shape[1]
    last = L - _KEY_LEN
    if last <= 0:
        return (np.empty(0, np.int64),) * 2 + (np.empty(0, np.uint64),)
    u = np.ascontiguousarray(S).view(np.uint32)
    # a hash of two consecutive values (their bits, so quantised data works too): 4 array passes
    h = (u[:, :last] * np.uint32(0x9E3779B1)) ^ u[:, 1:last + 1]
    h *= np.uint32(0x85EBCA77)
    flat_idx = np.flatnonzero(h < np.uint32(2 ** (32 - bits)) if bits > 0 else np.ones(h.shape, dtype=bool))
    rows, pos = np.divmod(flat_idx, last)
    vals = u[rows[:, None], pos[:, None] + np.arange(_KEY_LEN)[None, :]]
    flat = (vals == vals[:, :1]).all(axis=1)  # a flat stretch is shared by chance everywhere
    rows, pos, vals = rows[~flat], pos[~flat], vals[~flat]
    mult = (np.arange(1, _KEY_LEN + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)) | np.uint64(1)
    keys = (vals.astype(np.uint64) * mult).sum(axis=1, dtype=np.uint64)
    return rows.astype(np.int64), pos.astype(np.int64), keys ^ (keys >> np.uint64(31))


def _rescaled_anchors(S: np.ndarray, h: int):
    """(rows, positions, keys) of the rescaled scheme: neighbourhood maxima, quantised z-shape keys."""
    from scipy.ndimage import maximum_filter1d

    L = S.shape[1]
    if L < 2 * h + 3:
        return (np.empty(0, np.int64),) * 2 + (np.empty(0, np.uint64),)
    peak = maximum_filter1d(S, size=2 * h + 1, axis=1, mode="nearest")
    is_anchor = (S == peak)
    is_anchor[:, 1:] &= S[:, 1:] > S[:, :-1]  # the first step of a plateau only
    is_anchor[:, :h] = False
    is_anchor[:, L - h:] = False
    rows, pos = np.nonzero(is_anchor)
    offsets = np.unique(np.round(np.linspace(-h, h, 12)).astype(np.int64))
    vals = S[rows[:, None], pos[:, None] + offsets[None, :]].astype(np.float64)
    sd = vals.std(axis=1)
    ok = sd > 0
    rows, pos, vals, sd = rows[ok], pos[ok], vals[ok], sd[ok]
    z = (vals - vals.mean(axis=1, keepdims=True)) / sd[:, None]
    levels = np.clip(np.floor(z * 2 + 4), 0, 7).astype(np.uint64)
    keys = (levels << (np.uint64(3) * np.arange(len(offsets), dtype=np.uint64))).sum(axis=1, dtype=np.uint64)
    keys = keys * np.uint64(0xBF58476D1CE4E5B9)
    return rows.astype(np.int64), pos.astype(np.int64), keys ^ (keys >> np.uint64(29))


def _train_hits(S: np.ndarray, scheme, arg, wanted: np.ndarray):
    """Anchors of the training windows whose key is in ``wanted`` (sorted), sorted by key.

    One chunked pass; only anchors that some test anchor shares are kept, so memory stays small
    and no table of all training anchors is ever sorted.
    """
    rows, pos, keys = [], [], []
    total = 0
    step = max(1, _CHUNK // max(1, S.shape[1]))
    for start in range(0, len(S), step):
        r, p, k = scheme(np.ascontiguousarray(S[start:start + step], dtype=np.float32), arg)
        total += len(r)
        if not len(wanted):
            continue
        at = np.minimum(np.searchsorted(wanted, k), len(wanted) - 1)
        hit = wanted[at] == k
        rows.append(r[hit] + start)
        pos.append(p[hit])
        keys.append(k[hit])
    if not rows:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.uint64), total
    rows, pos, keys = np.concatenate(rows), np.concatenate(pos), np.concatenate(keys)
    order = np.argsort(keys, kind="stable")
    return rows[order], pos[order], keys[order], total


def _verify(S_test, ti, S_train, tj, shift, mode: str):
    """Length of the verified shared stretch for each candidate (0 when it does not verify)."""
    L = S_test.shape[1]
    out = np.zeros(len(ti), dtype=np.int64)
    t = np.arange(L)
    step = max(1, 2**20 // L)  # candidates per batch: about 8 MB of float64 per array
    for s in range(0, len(ti), step):
        a_idx, b_idx, d = ti[s:s + step], tj[s:s + step], shift[s:s + step]
        a = S_test[a_idx].astype(np.float64)
        src = t[None, :] - d[:, None]  # training position of each test position
        valid = (src >= 0) & (src < L)
        b = np.take_along_axis(S_train[b_idx].astype(np.float64), np.clip(src, 0, L - 1), axis=1)
        n = valid.sum(axis=1)
        if mode == "exact":
            same = ((a == b) | ~valid).all(axis=1)
            spread = np.where(valid, a, np.nan)
            varied = np.nanmax(spread, axis=1) > np.nanmin(spread, axis=1)
            ok = same & varied
        else:
            w = valid.astype(np.float64)
            ma = (a * w).sum(1) / n
            mb = (b * w).sum(1) / n
            da, db = (a - ma[:, None]) * w, (b - mb[:, None]) * w
            vb = (db * db).sum(1)
            va = (da * da).sum(1)
            gain = np.where(vb > 0, (da * db).sum(1) / np.where(vb > 0, vb, 1), 0.0)
            resid = da - gain[:, None] * db
            rel = np.sqrt((resid * resid).sum(1) / np.where(va > 0, va, np.inf))
            ok = (va > 0) & (vb > 0) & (gain > 0) & (rel < _AFFINE_TOL)
        out[s:s + step] = np.where(ok, n, 0)
    return out


def scan_window_overlap(S_train: np.ndarray, S_test: np.ndarray, *, rescaled: bool, max_test: int = 4000,
                        seed: int = 0) -> OverlapScan:
    """Look for stretches that test windows ``S_test`` (n, L) share with training windows ``S_train``."""
    n_train, L = S_train.shape
    rng = np.random.default_rng(seed)
    checked = np.arange(len(S_test))
    notes = []
    if len(checked) > max_test:
        checked = np.sort(rng.choice(len(S_test), max_test, replace=False))
        notes.append(f"{max_test:,} of {len(S_test):,} test windows were examined (a random sample)")
    if rescaled:
        mode, arg = "rescaled", max(2, L // (2 * _ANCHORS_PER_WINDOW))
        scheme = _rescaled_anchors
    else:
        mode, arg = "exact", max(0, round(np.log2(max(1.0, L / _ANCHORS_PER_WINDOW))))
        scheme = _exact_anchors
    min_overlap = max(8, L // 8)
    sub = np.ascontiguousarray(S_test[checked], dtype=np.float32)
    q_rows, q_pos, q_keys = scheme(sub, arg)
    rows, pos, keys, total = _train_hits(S_train, scheme, arg, np.unique(q_keys))
    anchors_per_window = total / max(1, n_train)
    lo = np.searchsorted(keys, q_keys, side="left")
    hi = np.searchsorted(keys, q_keys, side="right")
    counts = np.minimum(hi - lo, _PER_ANCHOR)
    qi = np.repeat(np.arange(len(q_keys)), counts)
    hit = np.repeat(lo, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    ti, tj = q_rows[qi], rows[hit]
    shift = q_pos[qi] - pos[hit]
    partner = np.full(len(checked), -1, dtype=np.int64)
    best_shift = np.zeros(len(checked), dtype=np.int64)
    best_overlap = np.zeros(len(checked), dtype=np.int64)
    keep = (L - np.abs(shift) >= min_overlap) & (shift != 0)  # shift 0 is a duplicate: D201's business
    ti, tj, shift = ti[keep], tj[keep], shift[keep]
    if len(ti):
        # one vote per supporting anchor; verify the best-supported candidates of each test window
        code = (ti * (n_train + 1) + tj) * (2 * L + 1) + (shift + L)
        uniq, votes = np.unique(code, return_counts=True)
        ti = uniq // ((n_train + 1) * (2 * L + 1))
        tj = (uniq // (2 * L + 1)) % (n_train + 1)
        shift = uniq % (2 * L + 1) - L
        order = np.lexsort((-votes, ti))
        ti, tj, shift = ti[order], tj[order], shift[order]
        rank = np.arange(len(ti)) - np.searchsorted(ti, ti, side="left")
        sel = rank < _PER_WINDOW
        ti, tj, shift = ti[sel], tj[sel], shift[sel]
        length = _verify(sub, ti, S_train, tj, shift, mode)
        length[length < min_overlap] = 0
        order = np.lexsort((-length, ti))
        ti, tj, shift, length = ti[order], tj[order], shift[order], length[order]
        first = np.ones(len(ti), dtype=bool)
        first[1:] = ti[1:] != ti[:-1]
        ti, tj, shift, length = ti[first], tj[first], shift[first], length[first]
        found = length > 0
        partner[ti[found]] = tj[found]
        best_shift[ti[found]] = shift[found]
        best_overlap[ti[found]] = length[found]
    return OverlapScan(mode, L, n_train, len(S_test), checked, partner, best_shift, best_overlap, min_overlap,
                       float(anchors_per_window), notes)
