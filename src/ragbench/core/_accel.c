/*
 * ragbench.core._accel -- optional C twin of the hot paths of ragbench.core:
 * reading a large TREC run or qrels file, and joining a run with its qrels.
 *
 * Contract (every function):
 *   - It is an exact, faster twin of numpy/Arrow code in ragbench.core, which
 *     stays the reference and the fallback (and is used when this module is not
 *     built, or when RAGBENCH_NO_ACCEL=1).
 *   - It either produces a result bit-identical to that code's, or returns None
 *     (parse_trec) / raises ValueError (judge_rows): the caller then runs the
 *     reference code, which says what is wrong with the input, with file:line.
 *     It never guesses: anything unusual (a byte >= 0x80 or NUL in a column that
 *     is read, a score in an unusual form, a duplicate row) means "fall back".
 *   - No global mutable state; outputs are objects created by the call. The
 *     heavy loops run without the GIL; every index is bounds-checked and sizes
 *     are Py_ssize_t, so no input can crash the interpreter.
 *
 * parse_trec(data, kind) -> tuple | None
 *   data: any C-contiguous buffer (bytes, mmap) holding a whole TREC file
 *   without a byte-order mark. kind 0: run lines "qid Q0 docno rank score tag
 *   [ignored...]"; kind 1: qrels lines "qid iter docno rel" (exactly 4 columns).
 *   The format is the one io/_text.py's split_lines defines: lines end at '\n';
 *   runs of space, \t, \r, \v, \f separate columns; blank lines are skipped; a
 *   line whose first column starts with '#' is a comment. Scores must match
 *   [+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)? and be finite (value as
 *   strtod / Python's float: correctly rounded); grades [+-]?[0-9]+ in int64.
 *   Returns (rows, doc_offsets, doc_chars, query_offsets, query_chars, values,
 *            hi, lo, codes, first_rows, longest, checked, tag_start, tag_len):
 *     doc_offsets/query_offsets: int32[rows+1], doc_chars/query_chars: the ids
 *       back to back -- an Arrow string array's buffers, row order;
 *     values: float64[rows] scores (run) or int64[rows] grades (qrels);
 *     hi, lo: uint64[rows], the big-endian words of bytes 0-7 and 8-15 of each
 *       doc id, zero padded: ragbench.core.doc_keys.fixed_keys (meaningful only
 *       when longest <= 16);
 *     codes: int32[rows], each row's query as the index of its first appearance
 *       among distinct query ids; first_rows: int32[distinct], the row where
 *       each appears first -- what pyarrow.compute.dictionary_encode gives;
 *     longest: the longest doc id in bytes;
 *     checked: 1 if every query's rows are contiguous, in which case (query,
 *       doc) pairs were checked to be unique; 0 if the caller must check;
 *     tag_start, tag_len: the last row's tag (6th column, runs) in data.
 *   All buffers are bytearrays (writable). None on anything else, including a
 *   file with no rows and a repeated (query, doc) pair.
 *
 * judge_rows(r_code, r_map, scores, r_hi, r_lo, j_qi, j_hi, j_lo, j_rel, version,
 *            rel, num_ret) -> int
 *   The core of ranking.judge (its numpy twin: ranked_rows.ranked_relevance,
 *   i.e. lookup then rank_rows). Run row r belongs to evaluated query
 *   q = r_map[r_code[r]] (-1: not evaluated, row ignored); judgment j to query
 *   j_qi[j] (all evaluated). For q = 0, 1, ...: num_ret[q] = its number of rows,
 *   and its rows in trec_eval's rank order (score descending -- as float32
 *   when version == 9 -- then doc key (hi, lo) descending) get their relevance
 *   written to rel, one query after another: the grade of the judgment of q
 *   with the same (hi, lo); -1 (NONPOOL) if there is none; -2 (UNJUDGED) if
 *   its grade is negative. Returns the number of rows written.
 *   Arrays: int32 r_code, r_map, j_qi; float64 scores; uint64 hi, lo (lo None:
 *   all zero); int64 j_rel; writable int64 rel (>= len(r_code)) and num_ret
 *   (one per query). ValueError on inconsistent lengths, indexes out of range
 *   or a judgment key twice.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Word-at-a-time scanning needs little-endian loads and a count of trailing
 * zero bits; elsewhere the byte loops do the same work. */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SWAR 1
#endif

/* ------------------------------------------------------------------------- */
/* Small helpers                                                              */

/* Byte classes of the text formats. ID: part of a column; BLANK: separates
 * columns; EOL: ends a line; BAD: NUL or non-ASCII, which the fast path leaves
 * to the reference reader (UTF-8 checks, error messages). */
enum { ID = 0, BLANK = 1, EOL = 2, BAD = 3 };

static const unsigned char CLASS[256] = {
    /* 0x00 NUL */ BAD, ID, ID, ID, ID, ID, ID, ID, ID,
    /* \t */ BLANK, /* \n */ EOL, /* \v */ BLANK, /* \f */ BLANK, /* \r */ BLANK,
    ID, ID,                                                     /* 0x0e-0x0f */
    ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, /* 0x10 */
    /* ' ' */ BLANK, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID,
    ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, /* 0x30 */
    ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, /* 0x40 */
    ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, /* 0x50 */
    ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, /* 0x60 */
    ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, ID, /* 0x70 */
#define BAD16 BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD
    BAD16, BAD16, BAD16, BAD16, BAD16, BAD16, BAD16, BAD16 /* 0x80-0xff */
#undef BAD16
};

static inline uint64_t
mix2(uint64_t a, uint64_t b)
{
    uint64_t h = a * 0x9E3779B97F4A7C15ull;
    h ^= (b + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 31;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return h;
}

static inline uint64_t
hash_bytes(const unsigned char *s, Py_ssize_t n)
{
    uint64_t h = 0xCBF29CE484222325ull; /* FNV-1a */
    for (Py_ssize_t i = 0; i < n; i++) {
        h = (h ^ s[i]) * 0x100000001B3ull;
    }
    return mix2(h, (uint64_t)n);
}

/* The big-endian word of s[0..n) (1 <= n <= 8), zero padded on the right: the
 * order of these words is the order of the byte strings (strcmp, no NULs).
 * s[0..8) must be readable when word_ok. */
static inline uint64_t
be_word(const unsigned char *s, Py_ssize_t n, int word_ok)
{
#ifdef SWAR
    if (word_ok) {
        uint64_t x;
        memcpy(&x, s, 8);
        return __builtin_bswap64(x) & (~0ull << (8 * (8 - n)));
    }
#else
    (void)word_ok;
#endif
    uint64_t w = 0;
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        w = (w << 8) | s[i];
    }
    for (; i < 8; i++) {
        w <<= 8;
    }
    return w;
}

static inline int
same_bytes(const unsigned char *a, const unsigned char *b, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) { /* ids are short: no call to memcmp */
        if (a[i] != b[i]) {
            return 0;
        }
    }
    return 1;
}

/* Copy an id of n bytes; a short one as 16 bytes at once where both buffers
 * have room (the bytes past n are overwritten by the next id or cut off). */
static inline void
copy_id(unsigned char *dst, Py_ssize_t dst_room, const unsigned char *src, Py_ssize_t src_room,
        Py_ssize_t n)
{
    if (n <= 16 && dst_room >= 16 && src_room >= 16) {
        memcpy(dst, src, 16);
    }
    else {
        memcpy(dst, src, (size_t)n);
    }
}

/* The first byte at or after p that is not of class ID, or end. */
static inline const unsigned char *
scan_id(const unsigned char *p, const unsigned char *end)
{
#ifdef SWAR
    /* Flag the bytes < 0x21 or >= 0x80 of eight at once; the lowest flag is
     * exact (borrows only run towards higher bytes). The byte loop below then
     * steps over control bytes, which are ID bytes. */
    while (end - p >= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        uint64_t flags = ((x - 0x2121212121212121ull) | x) & 0x8080808080808080ull;
        if (flags) {
            p += __builtin_ctzll(flags) >> 3;
            break;
        }
        p += 8;
    }
#endif
    while (p < end && CLASS[*p] == ID) {
        p++;
    }
    return p;
}

/* Room for count items of size bytes (at least one), or NULL: out of memory
 * or a size that does not fit in Py_ssize_t. Safe without the GIL. */
static void *
alloc_items(Py_ssize_t count, size_t size)
{
    if (count < 1) {
        count = 1;
    }
    if ((size_t)count > (size_t)PY_SSIZE_T_MAX / size) {
        return NULL;
    }
    return PyMem_RawMalloc((size_t)count * size);
}

/* The least power of two >= max(n, 16); n <= PY_SSIZE_T_MAX / 4 (callers). */
static Py_ssize_t
pow2_at_least(Py_ssize_t n)
{
    Py_ssize_t c = 16;
    while (c < n) {
        c <<= 1;
    }
    return c;
}

/* ------------------------------------------------------------------------- */
/* Numbers                                                                    */

/* Powers of ten exact in a double (10^22 is the largest). */
static const double POW10[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A score: 1 and *out on success, 0 if s[0..n) does not match the reader's
 * grammar or is not finite. The value is the correctly rounded double, as
 * Python's float() and glibc's strtod give: exactly (Clinger's fast path) when
 * the significant digits fit in 2^53 and the power of ten is exact, strtod
 * otherwise. */
static int
parse_score(const unsigned char *s, Py_ssize_t n, double *out)
{
    Py_ssize_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        i++;
    }
    uint64_t mant = 0;
    int sig = 0;        /* significant digits in mant (leading zeros skipped) */
    int digits = 0;     /* all mantissa digits */
    long scale = 0;     /* decimal exponent adjustment from the fraction */
    int exact = 1;      /* mant holds every significant digit */
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
        if (sig || s[i] != '0') {
            if (sig < 19) {
                mant = mant * 10 + (uint64_t)(s[i] - '0');
                sig++;
            }
            else {
                exact = 0;
            }
        }
    }
    if (i < n && s[i] == '.') {
        i++;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
            if (sig || s[i] != '0') {
                if (sig < 19) {
                    mant = mant * 10 + (uint64_t)(s[i] - '0');
                    sig++;
                }
                else {
                    exact = 0;
                }
            }
            if (exact) {
                scale--;
            }
        }
    }
    if (digits == 0) {
        return 0;
    }
    long exp10 = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            eneg = s[i] == '-';
            i++;
        }
        if (i == n) {
            return 0;
        }
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            if (exp10 < 100000) {
                exp10 = exp10 * 10 + (s[i] - '0');
            }
        }
        if (eneg) {
            exp10 = -exp10;
        }
    }
    if (i != n) {
        return 0;
    }
    double v;
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    long e = exp10 + scale;
    if (exact && mant <= (1ull << 53) && e >= -22 && e <= 22) {
        v = e >= 0 ? (double)mant * POW10[e] : (double)mant / POW10[-e];
        *out = neg ? -v : v;
        return 1;
    }
#endif
    /* strtod needs a terminated copy; an absurdly long number is left to
     * Python. The end pointer check also catches a locale whose decimal point
     * is not '.'. */
    char buf[128];
    if (n >= (Py_ssize_t)sizeof(buf)) {
        return 0;
    }
    memcpy(buf, s, (size_t)n);
    buf[n] = '\0';
    char *end = NULL;
    v = strtod(buf, &end);
    if (end != buf + n || !isfinite(v)) {
        return 0;
    }
    *out = v;
    return 1;
}

/* A grade: [+-]?[0-9]+ within int64. */
static int
parse_grade(const unsigned char *s, Py_ssize_t n, int64_t *out)
{
    Py_ssize_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        i++;
    }
    if (i == n) {
        return 0;
    }
    uint64_t v = 0;
    const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (limit - d) / 10) {
            return 0;
        }
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 1;
}

/* ------------------------------------------------------------------------- */
/* parse_trec                                                                 */

typedef struct {
    const unsigned char *p;
    Py_ssize_t n;
} span;

typedef struct {
    uint32_t gen; /* in use when equal to the parser's gen */
    uint32_t tag; /* high bits of the doc id's hash */
    int32_t row;
} doc_slot;

typedef struct {
    /* input */
    const unsigned char *buf;
    Py_ssize_t len;
    int kind;
    int ncols;
    /* outputs: the bytearrays' memory, capacities fixed before parsing */
    Py_ssize_t cap_rows, cap_chars;
    int32_t *doc_off, *q_off, *codes, *first_rows;
    unsigned char *doc_chars, *q_chars;
    double *scores;
    int64_t *grades;
    uint64_t *hi, *lo;
    /* results */
    Py_ssize_t rows, distinct, longest, tag_start, tag_len;
    int checked;
    int lo_live; /* lo[] is written (zeros until then): an id over 8 bytes seen */
    /* distinct query ids: open addressing over codes (-1 empty) */
    int32_t *qtab;
    Py_ssize_t qcap;
    /* the current query's doc ids: slots of generation gen are in use */
    doc_slot *dtab;
    Py_ssize_t dcap, block_start, block_count;
    uint32_t gen;
} parser;

static inline uint64_t
lo_of(const parser *ps, Py_ssize_t row)
{
    return ps->lo_live ? ps->lo[row] : 0;
}

static int
same_doc(const parser *ps, Py_ssize_t a, Py_ssize_t b)
{
    Py_ssize_t na = ps->doc_off[a + 1] - ps->doc_off[a];
    Py_ssize_t nb = ps->doc_off[b + 1] - ps->doc_off[b];
    if (na != nb || ps->hi[a] != ps->hi[b] || lo_of(ps, a) != lo_of(ps, b)) {
        return 0;
    }
    return na <= 16 || memcmp(ps->doc_chars + ps->doc_off[a] + 16,
                              ps->doc_chars + ps->doc_off[b] + 16, (size_t)(na - 16)) == 0;
}

static uint64_t
doc_hash(const parser *ps, Py_ssize_t row)
{
    uint64_t h = mix2(ps->hi[row], lo_of(ps, row));
    Py_ssize_t n = ps->doc_off[row + 1] - ps->doc_off[row];
    if (n > 16) {
        h ^= hash_bytes(ps->doc_chars + ps->doc_off[row] + 16, n - 16);
    }
    return h;
}

/* Put row into the doc table; 1 if a row of the current block has the same doc
 * id, -1 out of memory, 0 otherwise. */
static int
doc_insert(parser *ps, Py_ssize_t row)
{
    Py_ssize_t mask = ps->dcap - 1;
    uint64_t h = doc_hash(ps, row);
    uint32_t tag = (uint32_t)(h >> 32);
    Py_ssize_t i = (Py_ssize_t)(h & (uint64_t)mask);
    while (ps->dtab[i].gen == ps->gen) {
        if (ps->dtab[i].tag == tag && same_doc(ps, ps->dtab[i].row, row)) {
            return 1;
        }
        i = (i + 1) & mask;
    }
    ps->dtab[i].gen = ps->gen;
    ps->dtab[i].tag = tag;
    ps->dtab[i].row = (int32_t)row;
    ps->block_count++;
    if (ps->block_count * 4 > ps->dcap) {
        /* Grow: a fresh table holding only the current block's rows. */
        Py_ssize_t cap = ps->dcap * 2;
        doc_slot *tab = PyMem_RawCalloc((size_t)cap, sizeof(doc_slot));
        if (tab == NULL) {
            return -1;
        }
        PyMem_RawFree(ps->dtab);
        ps->dtab = tab;
        ps->dcap = cap;
        ps->gen = 1;
        mask = cap - 1;
        for (Py_ssize_t r = ps->block_start; r <= row; r++) {
            uint64_t hr = doc_hash(ps, r);
            Py_ssize_t k = (Py_ssize_t)(hr & (uint64_t)mask);
            while (tab[k].gen == 1) {
                k = (k + 1) & mask;
            }
            tab[k].gen = 1;
            tab[k].tag = (uint32_t)(hr >> 32);
            tab[k].row = (int32_t)r;
        }
    }
    return 0;
}

/* The code of the query id just copied for row (its first appearance gets the
 * next code); -1 out of memory. */
static int32_t
query_code(parser *ps, Py_ssize_t row)
{
    const unsigned char *q = ps->q_chars + ps->q_off[row];
    Py_ssize_t n = ps->q_off[row + 1] - ps->q_off[row];
    Py_ssize_t mask = ps->qcap - 1;
    Py_ssize_t i = (Py_ssize_t)(hash_bytes(q, n) & (uint64_t)mask);
    while (ps->qtab[i] >= 0) {
        Py_ssize_t first = ps->first_rows[ps->qtab[i]];
        Py_ssize_t m = ps->q_off[first + 1] - ps->q_off[first];
        if (m == n && memcmp(ps->q_chars + ps->q_off[first], q, (size_t)n) == 0) {
            return ps->qtab[i];
        }
        i = (i + 1) & mask;
    }
    int32_t code = (int32_t)ps->distinct;
    ps->qtab[i] = code;
    ps->first_rows[code] = (int32_t)row;
    ps->distinct++;
    if (ps->distinct * 2 > ps->qcap) {
        Py_ssize_t cap = ps->qcap * 2;
        int32_t *tab = alloc_items(cap, sizeof(int32_t));
        if (tab == NULL) {
            return -1;
        }
        memset(tab, 0xff, (size_t)cap * sizeof(int32_t));
        mask = cap - 1;
        for (Py_ssize_t c = 0; c < ps->distinct; c++) {
            Py_ssize_t f = ps->first_rows[c];
            Py_ssize_t k = (Py_ssize_t)(hash_bytes(ps->q_chars + ps->q_off[f],
                                                   ps->q_off[f + 1] - ps->q_off[f])
                                        & (uint64_t)mask);
            while (tab[k] >= 0) {
                k = (k + 1) & mask;
            }
            tab[k] = (int32_t)c;
        }
        PyMem_RawFree(ps->qtab);
        ps->qtab = tab;
        ps->qcap = cap;
    }
    return code;
}

enum { PARSED = 0, FALL_BACK = 1, NO_MEMORY = 2 };

/* One data line's columns are in col[0..ncols); store row ps->rows. */
static int
store_row(parser *ps, const span *col)
{
    Py_ssize_t row = ps->rows;
    if (row >= ps->cap_rows) {
        return FALL_BACK;
    }
    const span *qid = &col[0], *doc = &col[2];
    /* Offsets are int32 (Arrow's string type): stay below 2^31. */
    Py_ssize_t qpos = ps->q_off[row], dpos = ps->doc_off[row];
    if (qid->n > ps->cap_chars - qpos || doc->n > ps->cap_chars - dpos ||
        qpos + qid->n > INT32_MAX || dpos + doc->n > INT32_MAX) {
        return FALL_BACK;
    }
    if (ps->kind == 0) {
        if (!parse_score(col[4].p, col[4].n, &ps->scores[row])) {
            return FALL_BACK;
        }
        ps->tag_start = col[5].p - ps->buf;
        ps->tag_len = col[5].n;
    }
    else if (!parse_grade(col[3].p, col[3].n, &ps->grades[row])) {
        return FALL_BACK;
    }

    const unsigned char *end = ps->buf + ps->len;
    copy_id(ps->q_chars + qpos, ps->cap_chars - qpos, qid->p, end - qid->p, qid->n);
    ps->q_off[row + 1] = (int32_t)(qpos + qid->n);
    copy_id(ps->doc_chars + dpos, ps->cap_chars - dpos, doc->p, end - doc->p, doc->n);
    ps->doc_off[row + 1] = (int32_t)(dpos + doc->n);

    Py_ssize_t n = doc->n, room = end - doc->p;
    ps->hi[row] = be_word(doc->p, n < 8 ? n : 8, room >= 8);
    if (n > 8) {
        if (!ps->lo_live) { /* most collections' ids fit in 8 bytes: lo stays unwritten */
            memset(ps->lo, 0, (size_t)row * sizeof(uint64_t));
            ps->lo_live = 1;
        }
        ps->lo[row] = be_word(doc->p + 8, n < 16 ? n - 8 : 8, room >= 16);
    }
    else if (ps->lo_live) {
        ps->lo[row] = 0;
    }
    if (n > ps->longest) {
        ps->longest = n;
    }

    /* The query: most rows repeat the previous row's. */
    int32_t code;
    Py_ssize_t prev_n = row ? ps->q_off[row] - ps->q_off[row - 1] : -1;
    if (prev_n == qid->n && same_bytes(ps->q_chars + ps->q_off[row - 1], qid->p, qid->n)) {
        code = ps->codes[row - 1];
    }
    else {
        Py_ssize_t before = ps->distinct;
        code = query_code(ps, row);
        if (code < 0) {
            return NO_MEMORY;
        }
        if (ps->distinct == before) {
            ps->checked = 0; /* the query's rows are split: the caller checks */
        }
        ps->gen++;
        ps->block_start = row;
        ps->block_count = 0;
    }
    ps->codes[row] = code;
    ps->rows = row + 1;
    if (ps->checked) {
        int r = doc_insert(ps, row);
        if (r) {
            return r > 0 ? FALL_BACK : NO_MEMORY;
        }
    }
    return PARSED;
}

/* One line at p (not at end) by the general tokenizer: its first ncols
 * columns into col and *k = ncols, or *k = 0 for a blank or comment line.
 * Returns the position after the line, or NULL if the line is malformed or
 * holds a byte left to the reference reader. */
static const unsigned char *
split_line(const unsigned char *p, const unsigned char *end, int ncols, int kind, span *col,
           int *k)
{
    *k = 0;
    while (p < end && CLASS[*p] == BLANK) {
        p++;
    }
    if (p == end) {
        return end;
    }
    if (*p == '\n') {
        return p + 1;
    }
    if (*p == '#') { /* a comment line */
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        return nl ? nl + 1 : end;
    }
    int n = 0;
    for (;;) {
        const unsigned char *start = p;
        p = scan_id(p, end);
        if (p < end && CLASS[*p] == BAD) {
            return NULL;
        }
        col[n].p = start;
        col[n].n = p - start;
        n++;
        while (p < end && CLASS[*p] == BLANK) {
            p++;
        }
        if (n == ncols || p == end || *p == '\n') {
            break;
        }
    }
    if (n < ncols) {
        return NULL; /* too few columns */
    }
    if (p < end && *p != '\n') {
        if (kind == 1) {
            return NULL; /* qrels: too many columns */
        }
        /* runs: columns after the tag are ignored (trec_eval) */
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl : end;
    }
    *k = ncols;
    return p < end ? p + 1 : end;
}

#if defined(__GNUC__) && defined(__SSE2__)
#include <emmintrin.h>
#define FAST_LINES 1

/* split_line for a line shorter than 64 bytes at p, with p[0..64) readable,
 * that holds only printable ASCII and separators: the 64 bytes are classified
 * at once (SSE2) and the columns read off bit masks, so that finding a column
 * does not wait on the previous one. NULL: leave the line to split_line. */
static inline const unsigned char *
fast_line(const unsigned char *p, int ncols, int kind, span *col, int *k)
{
    uint64_t sep = 0, nl = 0, odd = 0;
    for (int i = 0; i < 4; i++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i));
        __m128i t = _mm_sub_epi8(v, _mm_set1_epi8('\t'));
        __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(4)), t); /* \t\n\v\f\r */
        __m128i blank = _mm_or_si128(ctl, _mm_cmpeq_epi8(v, _mm_set1_epi8(' ')));
        __m128i special = _mm_cmplt_epi8(v, _mm_set1_epi8(0x21)); /* < 0x21 or >= 0x80 */
        sep |= (uint64_t)(uint32_t)_mm_movemask_epi8(blank) << (16 * i);
        nl |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')))
              << (16 * i);
        odd |= (uint64_t)(uint32_t)_mm_movemask_epi8(special) << (16 * i);
    }
    if (nl == 0) {
        return NULL; /* a long line */
    }
    int len = __builtin_ctzll(nl);
    uint64_t line = (1ull << len) - 1; /* len < 64 */
    if (odd & ~sep & line) {
        return NULL; /* NUL, non-ASCII or a control byte */
    }
    uint64_t word = ~sep & line;
    uint64_t starts = word & ~(word << 1), ends = word & ~(word >> 1);
    *k = 0;
    if (starts && p[__builtin_ctzll(starts)] != '#') {
        for (int i = 0; i < ncols; i++) {
            if (starts == 0) {
                return NULL; /* too few columns */
            }
            int a = __builtin_ctzll(starts), b = __builtin_ctzll(ends) + 1;
            col[i].p = p + a;
            col[i].n = b - a;
            starts &= starts - 1;
            ends &= ends - 1;
        }
        if (starts && kind == 1) {
            return NULL; /* qrels: too many columns */
        }
        *k = ncols;
    }
    return p + len + 1;
}
#endif

static int
parse_lines(parser *ps)
{
    const unsigned char *p = ps->buf, *end = ps->buf + ps->len;
    span col[6];
    while (p < end) {
        const unsigned char *next = NULL;
        int k = 0;
#ifdef FAST_LINES
        if (end - p >= 64) {
            next = fast_line(p, ps->ncols, ps->kind, col, &k);
        }
#endif
        if (next == NULL && (next = split_line(p, end, ps->ncols, ps->kind, col, &k)) == NULL) {
            return FALL_BACK;
        }
        p = next;
        if (k) {
            int r = store_row(ps, col);
            if (r != PARSED) {
                return r;
            }
        }
    }
    return ps->rows ? PARSED : FALL_BACK;
}

static PyObject *
new_bytearray(Py_ssize_t count, Py_ssize_t itemsize)
{
    if (count < 0 || count > PY_SSIZE_T_MAX / itemsize - 1) {
        PyErr_NoMemory();
        return NULL;
    }
    return PyByteArray_FromStringAndSize(NULL, count * itemsize);
}

static PyObject *
parse_trec(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *data;
    int kind;
    if (!PyArg_ParseTuple(args, "Oi:parse_trec", &data, &kind)) {
        return NULL;
    }
    if (kind != 0 && kind != 1) {
        PyErr_SetString(PyExc_ValueError, "kind must be 0 (run) or 1 (qrels)");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    parser ps;
    memset(&ps, 0, sizeof(ps));
    ps.buf = view.buf;
    ps.len = view.len;
    ps.kind = kind;
    ps.ncols = kind == 0 ? 6 : 4;
    /* A row takes at least 2 * ncols bytes ("a b c d e f\n"), the last line
     * one less: capacities that need no growing. The arrays are allocated
     * uninitialised, so pages never written are never resident. */
    ps.cap_rows = view.len / (2 * ps.ncols) + 1;
    ps.cap_chars = view.len;
    enum { DOC_OFF, DOC_CHARS, Q_OFF, Q_CHARS, VALUES, HI, LO, CODES, FIRST, NBUF };
    PyObject *out[NBUF] = {NULL};
    const Py_ssize_t count[NBUF] = {ps.cap_rows + 1, ps.cap_chars, ps.cap_rows + 1,
                                    ps.cap_chars, ps.cap_rows, ps.cap_rows, ps.cap_rows,
                                    ps.cap_rows, ps.cap_rows};
    const Py_ssize_t size[NBUF] = {4, 1, 4, 1, 8, 8, 8, 4, 4};
    PyObject *result = NULL;
    int status = NO_MEMORY;
    for (int b = 0; b < NBUF; b++) {
        if ((out[b] = new_bytearray(count[b], size[b])) == NULL) {
            goto done;
        }
    }
    ps.doc_off = (int32_t *)PyByteArray_AS_STRING(out[DOC_OFF]);
    ps.doc_chars = (unsigned char *)PyByteArray_AS_STRING(out[DOC_CHARS]);
    ps.q_off = (int32_t *)PyByteArray_AS_STRING(out[Q_OFF]);
    ps.q_chars = (unsigned char *)PyByteArray_AS_STRING(out[Q_CHARS]);
    ps.scores = (double *)PyByteArray_AS_STRING(out[VALUES]);
    ps.grades = (int64_t *)PyByteArray_AS_STRING(out[VALUES]);
    ps.hi = (uint64_t *)PyByteArray_AS_STRING(out[HI]);
    ps.lo = (uint64_t *)PyByteArray_AS_STRING(out[LO]);
    ps.codes = (int32_t *)PyByteArray_AS_STRING(out[CODES]);
    ps.first_rows = (int32_t *)PyByteArray_AS_STRING(out[FIRST]);
    ps.doc_off[0] = 0;
    ps.q_off[0] = 0;
    ps.checked = 1;

    Py_BEGIN_ALLOW_THREADS
    ps.qcap = 1024;
    ps.qtab = PyMem_RawMalloc((size_t)ps.qcap * sizeof(int32_t));
    ps.dcap = 1024;
    ps.dtab = PyMem_RawCalloc((size_t)ps.dcap, sizeof(doc_slot));
    if (ps.qtab != NULL && ps.dtab != NULL) {
        memset(ps.qtab, 0xff, (size_t)ps.qcap * sizeof(int32_t));
        status = ps.cap_rows < INT32_MAX ? parse_lines(&ps) : FALL_BACK;
    }
    PyMem_RawFree(ps.qtab);
    PyMem_RawFree(ps.dtab);
    Py_END_ALLOW_THREADS

    if (status == NO_MEMORY) {
        PyErr_NoMemory();
        goto done;
    }
    if (status == FALL_BACK) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    /* Shrink every buffer to what was written. */
    const Py_ssize_t used[NBUF] = {ps.rows + 1, ps.doc_off[ps.rows], ps.rows + 1,
                                   ps.q_off[ps.rows], ps.rows, ps.rows,
                                   ps.lo_live ? ps.rows : 0, ps.rows, ps.distinct};
    for (int b = 0; b < NBUF; b++) {
        if (PyByteArray_Resize(out[b], used[b] * size[b]) < 0) {
            goto done;
        }
    }
    result = Py_BuildValue("nOOOOOOOOOnnnn", ps.rows, out[DOC_OFF], out[DOC_CHARS],
                           out[Q_OFF], out[Q_CHARS], out[VALUES], out[HI],
                           ps.lo_live ? out[LO] : Py_None,
                           out[CODES], out[FIRST], ps.longest, (Py_ssize_t)ps.checked,
                           ps.tag_start, ps.tag_len);
done:
    for (int b = 0; b < NBUF; b++) {
        Py_XDECREF(out[b]);
    }
    PyBuffer_Release(&view);
    return result;
}

/* ------------------------------------------------------------------------- */
/* judge_rows                                                                 */

/* A C-contiguous buffer of items of itemsize bytes, *count of them (writable
 * if asked). */
static int
get_array(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, int writable,
          Py_ssize_t *count, const char *name)
{
    if (PyObject_GetBuffer(obj, view, writable ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0) {
        view->obj = NULL;
        return -1;
    }
    if (view->len % itemsize) {
        PyBuffer_Release(view);
        view->obj = NULL;
        PyErr_Format(PyExc_ValueError, "%s: size not a multiple of %zd", name, itemsize);
        return -1;
    }
    *count = view->len / itemsize;
    return 0;
}

/* One judgment in the current query's table; in use when gen is the table's. */
typedef struct {
    uint64_t hi, lo;
    int64_t rel;
    uint64_t gen;
} judged_slot;

typedef struct {
    Py_ssize_t nr, nj, nq, nmap;
    const int32_t *r_code, *r_map, *j_qi;
    const double *scores;
    const uint64_t *r_hi, *r_lo, *j_hi, *j_lo; /* a NULL lo means all zero */
    const int64_t *j_rel;
    int version;
    int64_t *rel, *num_ret;
    Py_ssize_t evaluated;
    /* The current query's judgments: a table reused from query to query, so it
     * stays in cache while the query's rows are looked up. */
    judged_slot *table;
    Py_ssize_t mask;
    uint64_t gen;
} judging;

typedef struct {
    double score;
    uint64_t hi, lo;
    Py_ssize_t row;
} rank_key;

/* (double)(float)x as IEEE rounds it (numpy's astype(float32)), without the
 * undefined behaviour of a C cast out of float's range: beyond FLT_MAX, values
 * from FLT_MAX + half an ulp (a tie, rounded to even) up become infinite. */
static inline double
as_float32(double x)
{
    double m = fabs(x);
    if (m > FLT_MAX) {
        m = m >= ldexp(1.0, 128) - ldexp(1.0, 103) ? (double)INFINITY : (double)FLT_MAX;
        return x < 0 ? -m : m;
    }
    return (double)(float)x;
}

static inline rank_key
key_of(const judging *jd, Py_ssize_t row)
{
    rank_key k;
    k.score = jd->scores[row];
    if (jd->version == 9) {
        k.score = as_float32(k.score); /* trec_eval 9 read scores as float */
    }
    k.hi = jd->r_hi[row];
    k.lo = jd->r_lo ? jd->r_lo[row] : 0;
    k.row = row;
    return k;
}

/* trec_eval's order within a query: score descending, then doc id (hi, lo)
 * descending; equal keys (not in a valid run) keep row order, as numpy's
 * stable lexsort does. */
static inline int
ranks_before(const rank_key *a, const rank_key *b)
{
    if (a->score != b->score) {
        return a->score > b->score;
    }
    if (a->hi != b->hi) {
        return a->hi > b->hi;
    }
    if (a->lo != b->lo) {
        return a->lo > b->lo;
    }
    return a->row < b->row;
}

static int
compare_rank(const void *a, const void *b)
{
    const rank_key *x = a, *y = b;
    return ranks_before(x, y) ? -1 : ranks_before(y, x) ? 1 : 0;
}

/* Fibonacci hashing: the top bits of the product depend on every key bit. */
static inline Py_ssize_t
slot_of(const judging *jd, uint64_t h, uint64_t l)
{
    uint64_t x = (h ^ (l * 0xC2B2AE3D27D4EB4Full)) * 0x9E3779B97F4A7C15ull;
    return (Py_ssize_t)(x >> 40) & jd->mask;
}

/* The current query's grade of doc (h, l): NONPOOL -1 if not judged,
 * UNJUDGED -2 if judged with a negative grade. */
static inline int64_t
grade_of(const judging *jd, uint64_t h, uint64_t l)
{
    const judged_slot *tab = jd->table;
    for (Py_ssize_t i = slot_of(jd, h, l); tab[i].gen == jd->gen; i = (i + 1) & jd->mask) {
        if (tab[i].hi == h && tab[i].lo == l) {
            return tab[i].rel < 0 ? -2 : tab[i].rel;
        }
    }
    return -1;
}

/* Fill the table with judgments j_order[0..n) (a power of two >= 8n slots:
 * few collisions, few mispredicted branches);
 * 0, or TWICE if two have the same key. */
enum { JUDGED = 0, TWICE = 1, OUT_OF_RANGE = 2, OUT_OF_MEMORY = 3 };

static int
fill_table(judging *jd, const int32_t *j_order, Py_ssize_t n)
{
    Py_ssize_t size = pow2_at_least(8 * n);
    jd->mask = size - 1;
    jd->gen++;
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_ssize_t j = j_order[k];
        uint64_t h = jd->j_hi[j], l = jd->j_lo ? jd->j_lo[j] : 0;
        Py_ssize_t i = slot_of(jd, h, l);
        for (; jd->table[i].gen == jd->gen; i = (i + 1) & jd->mask) {
            if (jd->table[i].hi == h && jd->table[i].lo == l) {
                return TWICE;
            }
        }
        jd->table[i].hi = h;
        jd->table[i].lo = l;
        jd->table[i].rel = jd->j_rel[j];
        jd->table[i].gen = jd->gen;
    }
    return JUDGED;
}

/* Sort keys[0..n) into rank order. Runs are usually written by score with at
 * most tied scores in another order: then only the tie groups are sorted. */
static void
sort_keys(rank_key *keys, Py_ssize_t n)
{
    Py_ssize_t k = 1;
    while (k < n && keys[k - 1].score >= keys[k].score) {
        k++;
    }
    if (k < n) { /* not in score order */
        qsort(keys, (size_t)n, sizeof(rank_key), compare_rank);
        return;
    }
    for (Py_ssize_t a = 0, b; a < n; a = b) {
        for (b = a + 1; b < n && keys[b].score == keys[a].score; b++) {
        }
        if (b - a > 16) {
            qsort(keys + a, (size_t)(b - a), sizeof(rank_key), compare_rank);
            continue;
        }
        for (Py_ssize_t i = a + 1; i < b; i++) { /* insertion sort */
            rank_key x = keys[i];
            Py_ssize_t j = i;
            for (; j > a && ranks_before(&x, &keys[j - 1]); j--) {
                keys[j] = keys[j - 1];
            }
            keys[j] = x;
        }
    }
}

/* Write the grades of the current query's rows (rows[0..n), or first..first+n
 * when rows is NULL) in rank order at rel[pos..pos+n). scratch: room for n. */
static void
rank_query(judging *jd, const int32_t *rows, Py_ssize_t first, Py_ssize_t n,
           Py_ssize_t pos, rank_key *scratch)
{
#define ROW(k) (rows ? (Py_ssize_t)rows[k] : first + (k))
    int ranked = 1;
    rank_key prev = key_of(jd, ROW(0));
    for (Py_ssize_t k = 1; k < n && ranked; k++) {
        rank_key cur = key_of(jd, ROW(k));
        ranked = ranks_before(&prev, &cur);
        prev = cur;
    }
    if (ranked) { /* the usual case: the run was written in rank order */
        for (Py_ssize_t k = 0; k < n; k++) {
            Py_ssize_t r = ROW(k);
            jd->rel[pos + k] = grade_of(jd, jd->r_hi[r], jd->r_lo ? jd->r_lo[r] : 0);
        }
        return;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        scratch[k] = key_of(jd, ROW(k));
    }
#undef ROW
    sort_keys(scratch, n);
    for (Py_ssize_t k = 0; k < n; k++) {
        jd->rel[pos + k] = grade_of(jd, scratch[k].hi, scratch[k].lo);
    }
}

/* Counting sort: order[start[q] .. start[q+1]) = the items of query q
 * (qi[i] = q), in item order; items with qi -1 are left out. start: nq + 1. */
static void
group_by_query(const int32_t *qi, Py_ssize_t n, Py_ssize_t nq, Py_ssize_t *start,
               Py_ssize_t *fill, int32_t *order)
{
    memcpy(fill, start, (size_t)nq * sizeof(Py_ssize_t));
    for (Py_ssize_t i = 0; i < n; i++) {
        if (qi[i] >= 0) {
            order[fill[qi[i]]++] = (int32_t)i;
        }
    }
}

static int
run_judging(judging *jd)
{
    const Py_ssize_t nq = jd->nq, nr = jd->nr, nj = jd->nj;
    int status = OUT_OF_MEMORY;
    size_t nq1 = (size_t)nq + 1;
    Py_ssize_t *j_start = PyMem_RawCalloc(nq1, sizeof(Py_ssize_t));
    Py_ssize_t *r_start = PyMem_RawCalloc(nq1, sizeof(Py_ssize_t));
    Py_ssize_t *first = alloc_items((Py_ssize_t)nq1, sizeof(Py_ssize_t));
    int32_t *j_order = alloc_items(nj, sizeof(int32_t));
    int32_t *r_qi = NULL, *rows = NULL;
    rank_key *scratch = NULL;
    if (!j_start || !r_start || !first || !j_order) {
        goto done;
    }
    /* Judgments grouped by query. */
    Py_ssize_t most_judged = 0;
    for (Py_ssize_t j = 0; j < nj; j++) {
        if (jd->j_qi[j] < 0 || jd->j_qi[j] >= nq) {
            status = OUT_OF_RANGE;
            goto done;
        }
        j_start[jd->j_qi[j] + 1]++;
    }
    for (Py_ssize_t q = 0; q < nq; q++) {
        most_judged = j_start[q + 1] > most_judged ? j_start[q + 1] : most_judged;
        j_start[q + 1] += j_start[q];
    }
    group_by_query(jd->j_qi, nj, nq, j_start, first, j_order);
    if (most_judged > PY_SSIZE_T_MAX / 64) {
        goto done;
    }
    jd->table = PyMem_RawCalloc((size_t)pow2_at_least(8 * most_judged), sizeof(judged_slot));
    if (jd->table == NULL) {
        goto done;
    }
    /* Rows per query, and whether each query's rows are one contiguous block
     * (first[q]: where it starts). */
    Py_ssize_t prev = -1, largest = 0;
    int contiguous = 1;
    for (Py_ssize_t r = 0; r < nr; r++) {
        int32_t code = jd->r_code[r];
        if (code < 0 || code >= jd->nmap || jd->r_map[code] < -1 || jd->r_map[code] >= nq) {
            status = OUT_OF_RANGE;
            goto done;
        }
        Py_ssize_t q = jd->r_map[code];
        if (q != prev && q >= 0) {
            if (r_start[q + 1]) {
                contiguous = 0;
            }
            first[q] = r;
        }
        prev = q;
        if (q >= 0) {
            r_start[q + 1]++;
        }
    }
    for (Py_ssize_t q = 0; q < nq; q++) {
        jd->num_ret[q] = r_start[q + 1];
        largest = r_start[q + 1] > largest ? r_start[q + 1] : largest;
        r_start[q + 1] += r_start[q];
    }
    jd->evaluated = r_start[nq];
    scratch = alloc_items(largest, sizeof(rank_key));
    if (scratch == NULL) {
        goto done;
    }
    if (!contiguous) { /* gather each query's rows, in row order */
        r_qi = alloc_items(nr, sizeof(int32_t));
        rows = alloc_items(jd->evaluated, sizeof(int32_t));
        if (r_qi == NULL || rows == NULL) {
            goto done;
        }
        for (Py_ssize_t r = 0; r < nr; r++) {
            r_qi[r] = jd->r_map[jd->r_code[r]];
        }
        group_by_query(r_qi, nr, nq, r_start, first, rows);
    }
    for (Py_ssize_t q = 0; q < nq; q++) {
        if ((status = fill_table(jd, j_order + j_start[q], j_start[q + 1] - j_start[q]))) {
            goto done;
        }
        Py_ssize_t n = jd->num_ret[q];
        if (n) {
            rank_query(jd, rows ? rows + r_start[q] : NULL, rows ? 0 : first[q], n,
                       r_start[q], scratch);
        }
    }
    status = JUDGED;
done:
    PyMem_RawFree(j_start);
    PyMem_RawFree(r_start);
    PyMem_RawFree(first);
    PyMem_RawFree(j_order);
    PyMem_RawFree(r_qi);
    PyMem_RawFree(rows);
    PyMem_RawFree(scratch);
    PyMem_RawFree(jd->table);
    return status;
}

static PyObject *
judge_rows(PyObject *module, PyObject *args)
{
    (void)module;
    enum { R_CODE, R_MAP, SCORES, R_HI, R_LO, J_QI, J_HI, J_LO, J_REL, REL, NUM_RET, NARR };
    static const char *const names[NARR] = {"r_code", "r_map", "scores", "r_hi", "r_lo",
                                            "j_qi", "j_hi", "j_lo", "j_rel", "rel",
                                            "num_ret"};
    static const Py_ssize_t itemsize[NARR] = {4, 4, 8, 8, 8, 4, 8, 8, 8, 8, 8};
    PyObject *obj[NARR];
    int version;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOiOO:judge_rows", &obj[R_CODE], &obj[R_MAP],
                          &obj[SCORES], &obj[R_HI], &obj[R_LO], &obj[J_QI], &obj[J_HI],
                          &obj[J_LO], &obj[J_REL], &version, &obj[REL], &obj[NUM_RET])) {
        return NULL;
    }
    Py_buffer view[NARR];
    Py_ssize_t count[NARR];
    PyObject *result = NULL;
    for (int b = 0; b < NARR; b++) {
        view[b].obj = NULL;
        view[b].buf = NULL;
        count[b] = -1;
    }
    for (int b = 0; b < NARR; b++) {
        if (obj[b] == Py_None && (b == R_LO || b == J_LO)) {
            continue; /* all zero */
        }
        if (get_array(obj[b], &view[b], itemsize[b], b == REL || b == NUM_RET, &count[b],
                      names[b]) < 0) {
            goto done;
        }
    }
    judging jd;
    memset(&jd, 0, sizeof(jd));
    jd.nr = count[R_CODE];
    jd.nmap = count[R_MAP];
    jd.nj = count[J_QI];
    jd.nq = count[NUM_RET];
    if (count[SCORES] != jd.nr || count[R_HI] != jd.nr || count[REL] < jd.nr ||
        (obj[R_LO] != Py_None && count[R_LO] != jd.nr) || count[J_HI] != jd.nj ||
        (obj[J_LO] != Py_None && count[J_LO] != jd.nj) || count[J_REL] != jd.nj ||
        (version != 9 && version != 10) || jd.nr >= INT32_MAX || jd.nj >= INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "judge_rows: inconsistent arguments");
        goto done;
    }
    jd.r_code = view[R_CODE].buf;
    jd.r_map = view[R_MAP].buf;
    jd.scores = view[SCORES].buf;
    jd.r_hi = view[R_HI].buf;
    jd.r_lo = view[R_LO].buf;
    jd.j_qi = view[J_QI].buf;
    jd.j_hi = view[J_HI].buf;
    jd.j_lo = view[J_LO].buf;
    jd.j_rel = view[J_REL].buf;
    jd.rel = view[REL].buf;
    jd.num_ret = view[NUM_RET].buf;
    jd.version = version;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = run_judging(&jd);
    Py_END_ALLOW_THREADS
    if (status == OUT_OF_MEMORY) {
        PyErr_NoMemory();
    }
    else if (status == TWICE) {
        PyErr_SetString(PyExc_ValueError, "judge_rows: a judgment key appears twice");
    }
    else if (status == OUT_OF_RANGE) {
        PyErr_SetString(PyExc_ValueError, "judge_rows: a query index out of range");
    }
    else {
        result = PyLong_FromSsize_t(jd.evaluated);
    }
done:
    for (int b = 0; b < NARR; b++) {
        if (view[b].obj != NULL) {
            PyBuffer_Release(&view[b]);
        }
    }
    return result;
}

/* ------------------------------------------------------------------------- */

static PyMethodDef methods[] = {
    {"parse_trec", parse_trec, METH_VARARGS,
     "parse_trec(data, kind) -> tuple | None: a TREC run (kind 0) or qrels (kind 1)\n"
     "file's columns in one pass; None where the reference reader must decide."},
    {"judge_rows", judge_rows, METH_VARARGS,
     "judge_rows(r_code, r_map, scores, r_hi, r_lo, j_qi, j_hi, j_lo, j_rel, version,\n"
     "rel, num_ret) -> int: the run's rows ranked and judged (see the source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "ragbench.core._accel",
    "Optional C twin of ragbench.core's hot paths (see the source's header comment).",
    0, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__accel(void)
{
    return PyModule_Create(&module_def);
}
