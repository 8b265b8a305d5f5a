-- Functions the warehouse adapter calls from its generated SQL.
--
-- SCD_VERSION_KEY: the SCD2 surrogate key of a version (docs/history.md, "Surrogate key"):
-- standard XXH64 with seed 42 of the UTF-8 text, as a signed 64-bit integer, exactly what
-- Spark's xxhash64 gives for one string column. The adapter builds the text
-- (keys || CHR(31) || valid_from as text) and maps -1 (the unknown member) to -2.
-- Pure Python, no package: it runs in any Snowflake Python runtime without Anaconda terms.
CREATE OR REPLACE FUNCTION {{DATABASE}}.CURATED.SCD_VERSION_KEY(TEXT VARCHAR)
  RETURNS NUMBER(19,0)
  LANGUAGE PYTHON
  RUNTIME_VERSION = '3.11'
  HANDLER = 'version_key'
  COMMENT = 'XXH64 (seed 42) of the text as a signed 64-bit integer, = Spark xxhash64(text)'
AS
$$
_P1, _P2, _P3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
_P4, _P5 = 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5
_MASK = (1 << 64) - 1
_SEED = 42


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & _MASK


def _round(acc, lane):
    return (_rotl((acc + lane * _P2) & _MASK, 31) * _P1) & _MASK


def _lane(data, at, width):
    return int.from_bytes(data[at:at + width], "little")


def version_key(text):
    if text is None:
        return None
    data = text.encode("utf-8")
    n, i = len(data), 0
    if n >= 32:
        v = [(_SEED + _P1 + _P2) & _MASK, (_SEED + _P2) & _MASK, _SEED, (_SEED - _P1) & _MASK]
        while i + 32 <= n:
            for j in range(4):
                v[j] = _round(v[j], _lane(data, i + 8 * j, 8))
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & _MASK
        for lane in v:
            h = ((h ^ _round(0, lane)) * _P1 + _P4) & _MASK
    else:
        h = (_SEED + _P5) & _MASK
    h = (h + n) & _MASK
    while i + 8 <= n:
        h = (_rotl(h ^ _round(0, _lane(data, i, 8)), 27) * _P1 + _P4) & _MASK
        i += 8
    if i + 4 <= n:
        h = (_rotl(h ^ (_lane(data, i, 4) * _P1 & _MASK), 23) * _P2 + _P3) & _MASK
        i += 4
    while i < n:
        h = (_rotl(h ^ (data[i] * _P5 & _MASK), 11) * _P1) & _MASK
        i += 1
    h ^= h >> 33
    h = (h * _P2) & _MASK
    h ^= h >> 29
    h = (h * _P3) & _MASK
    h ^= h >> 32
    return h - (1 << 64) if h >= 1 << 63 else h
$$;
