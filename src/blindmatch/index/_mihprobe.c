/*
 * Compiled query loop of the PDQ multi-index (blindmatch.index.pdq_index).
 *
 * Why C: at 10 million hashes a query at t = 31 reads ~24,000 bucket entries and verifies ~3,700 candidates, each a
 * cache miss into arrays of hundreds of MB. NumPy has to materialise every intermediate (keys, counts, candidate
 * lists, partial distances) and cannot issue a prefetch; a plain loop that prefetches a few probes / candidates
 * ahead keeps several misses in flight and allocates nothing per step. The arithmetic is the same as the NumPy
 * path (same probe masks, same suffix budgets, same "first chunk that can find it" rule), so both return identical
 * result sets; tests/index/test_compiled_probe.py checks that differentially.
 *
 * Contract: every array arrives through the buffer protocol (NumPy arrays in practice) and is checked for dtype,
 * shape and C-contiguity before use; table contents are bounds-checked inside the loop, so a damaged table raises
 * ProbeArgumentError instead of reading out of bounds. The GIL is released while probing, so searches on two
 * threads use two cores. No NumPy C API: results come back as bytes objects the caller views with frombuffer.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define POS_BITS 28
#define POS_MASK ((uint32_t)((1u << POS_BITS) - 1u))
#define MAX_CHUNKS 64
#define MAX_PREFIX 24
#define MAX_SUFFIX 4
#define HASH_BITS 256
/* Tunables, all measured at 10M (docs/benchmarks.md): how many probes / candidates ahead to prefetch, how many
 * words of a candidate, whether to prefetch each bucket's last line too, the locality hint. -DSTATS prints the
 * per-query work (probes, buckets, entries, candidates) to stderr. */
#ifndef PREFETCH_PROBES
#define PREFETCH_PROBES 12
#endif
#ifndef PREFETCH_CANDS
#define PREFETCH_CANDS 20
#endif
#ifndef PREFETCH_WORDS
#define PREFETCH_WORDS 1
#endif
#ifndef BUCKET_TAIL
#define BUCKET_TAIL 1
#endif
#ifndef PREFETCH_HINT
#define PREFETCH_HINT 1
#endif

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(addr) __builtin_prefetch((const void *)(addr), 0, PREFETCH_HINT)
#define POPCOUNT64(x) __builtin_popcountll((unsigned long long)(x))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define PREFETCH(addr) ((void)0)
static int popcount64_portable(uint64_t x) {
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
    return (int)((x * 0x0101010101010101ULL) >> 56);
}
#define POPCOUNT64(x) popcount64_portable((uint64_t)(x))
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#endif

/* x86-64's baseline has no POPCNT instruction: build the hot loops for both and let the loader pick (ifunc). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define HOT_CLONES __attribute__((target_clones("popcnt", "default")))
#else
#define HOT_CLONES
#endif

static PyObject *ProbeArgumentError = NULL; /* blindmatch.index.errors.ProbeArgumentError (strong reference) */

/* ------------------------------------------------------------------ buffer checks */

/* Is the buffer's element type an integer of the wanted signedness and size? Accepts native / little-endian
 * format prefixes only ('>' and '!' would need byte swapping the loop does not do). */
static int format_is(const Py_buffer *view, char kind, Py_ssize_t itemsize) {
    const char *f = view->format ? view->format : "B";
    if (*f == '@' || *f == '=' || *f == '<') {
        f++;
    }
    if (f[0] == '\0' || f[1] != '\0' || view->itemsize != itemsize) {
        return 0;
    }
    const char *accepted = kind == 'u' ? "BHILQ" : "bhilq";
    return strchr(accepted, f[0]) != NULL;
}

static const char *dtype_name(char kind, Py_ssize_t itemsize) {
    if (kind == 'u') {
        return itemsize == 1 ? "uint8" : itemsize == 4 ? "uint32" : "uint64";
    }
    return itemsize == 2 ? "int16" : itemsize == 4 ? "int32" : "int64";
}

/* Acquire a read-only C-contiguous view of ``obj`` with the given element type and dimensionality. */
static int get_view(PyObject *obj, Py_buffer *view, const char *name, char kind, Py_ssize_t itemsize, int ndim) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        PyErr_NormalizeException(&type, &value, &traceback);
        PyErr_Format(ProbeArgumentError, "%s must be a C-contiguous %dd %s array, got %.100s (%S)", name, ndim,
                     dtype_name(kind, itemsize), Py_TYPE(obj)->tp_name, value ? value : Py_None);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(traceback);
        return -1;
    }
    if (!format_is(view, kind, itemsize)) {
        PyErr_Format(ProbeArgumentError, "%s must have dtype %s, got buffer format '%s' of itemsize %zd", name,
                     dtype_name(kind, itemsize), view->format ? view->format : "B", view->itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    if (view->ndim != ndim) {
        PyErr_Format(ProbeArgumentError, "%s must be %d-dimensional, got %d dimensions", name, ndim, view->ndim);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ growable outputs */

typedef struct {
    int64_t *qi;
    int64_t *pos;
    int16_t *dist;
    size_t len, cap;
} Results;

static int results_push(Results *r, int64_t q, int64_t p, int d) {
    if (UNLIKELY(r->len == r->cap)) {
        size_t cap = r->cap ? 2 * r->cap : 256;
        int64_t *qi = (int64_t *)realloc(r->qi, cap * sizeof(int64_t));
        if (!qi) return -1;
        r->qi = qi;
        int64_t *pos = (int64_t *)realloc(r->pos, cap * sizeof(int64_t));
        if (!pos) return -1;
        r->pos = pos;
        int16_t *dist = (int16_t *)realloc(r->dist, cap * sizeof(int16_t));
        if (!dist) return -1;
        r->dist = dist;
        r->cap = cap;
    }
    r->qi[r->len] = q;
    r->pos[r->len] = p;
    r->dist[r->len] = (int16_t)d;
    r->len++;
    return 0;
}

static void results_free(Results *r) {
    free(r->qi);
    free(r->pos);
    free(r->dist);
    memset(r, 0, sizeof(*r));
}

/* (qi int64 bytes, pos int64 bytes, dist int16 bytes) */
static PyObject *results_to_python(const Results *r) {
    Py_ssize_t n = (Py_ssize_t)r->len;
    if (n == 0) { /* "y#" turns a NULL pointer into None */
        return Py_BuildValue("(y#y#y#)", "", (Py_ssize_t)0, "", (Py_ssize_t)0, "", (Py_ssize_t)0);
    }
    return Py_BuildValue("(y#y#y#)", (const char *)r->qi, n * (Py_ssize_t)sizeof(int64_t), (const char *)r->pos,
                         n * (Py_ssize_t)sizeof(int64_t), (const char *)r->dist, n * (Py_ssize_t)sizeof(int16_t));
}

/* ------------------------------------------------------------------ bit helpers */

/* Bits [start, start + width) of a 256-bit value held as four little-endian words (width <= 32). */
static inline uint64_t extract_bits(const uint64_t w[4], int start, int width) {
    int word = start >> 6, shift = start & 63;
    uint64_t key = w[word] >> shift;
    if (shift + width > 64) {
        key |= w[word + 1] << (64 - shift);
    }
    return key & ((UINT64_C(1) << width) - 1);
}

/* ------------------------------------------------------------------ the probe loop */

typedef struct {
    int start, width, prefix, radius;
    const uint32_t *table;
    const uint32_t *offsets;
    const int64_t *masks;
    Py_ssize_t n_masks;
    int word_order[4]; /* verification order: words outside the chunk first */
} Chunk;

typedef struct {
    uint32_t lo, hi;
    int budget;
} Bucket;

enum { PROBE_OK = 0, PROBE_NOMEM = 1, PROBE_CORRUPT = 2 };

typedef struct {
    const uint64_t *qc; /* (4, nq) */
    Py_ssize_t nq;
    int t;
    const uint64_t *cols; /* (4, n) */
    Py_ssize_t n;
    const uint8_t *alive; /* bit-packed, little bit order; NULL when nothing is dead */
    Chunk chunks[MAX_CHUNKS];
    int m;
    Py_ssize_t max_masks;
} Probe;

/* Keep a verified candidate only if no earlier probed chunk was within its radius: that chunk found it already. */
static inline int first_finder(const Probe *pr, int c, const uint64_t x[4]) {
    for (int j = 0; j < c; j++) {
        const Chunk *cj = &pr->chunks[j];
        if (cj->radius >= 0 && POPCOUNT64(extract_bits(x, cj->start, cj->width)) <= cj->radius) {
            return 0;
        }
    }
    return 1;
}

HOT_CLONES
static int probe_loop(const Probe *pr, Results *out, char *detail, size_t detail_len) {
    const Py_ssize_t nq = pr->nq, n = pr->n;
    const uint64_t *cw[4] = {pr->cols, pr->cols + n, pr->cols + 2 * n, pr->cols + 3 * n};
    const int t = pr->t;
    size_t cand_cap = 4096;
    uint32_t *cand = (uint32_t *)malloc(cand_cap * sizeof(uint32_t));
    Bucket *buckets = (Bucket *)malloc((size_t)(pr->max_masks > 0 ? pr->max_masks : 1) * sizeof(Bucket));
    int status = PROBE_OK;
#ifdef STATS
    size_t st_probes = 0, st_buckets = 0, st_entries = 0, st_cand = 0, st_w1 = 0, st_w2 = 0;
#define STAT(x) x
#else
#define STAT(x)
#endif
    if (!cand || !buckets) {
        status = PROBE_NOMEM;
        goto done;
    }
    for (Py_ssize_t q = 0; q < nq; q++) {
        const uint64_t qw[4] = {pr->qc[q], pr->qc[nq + q], pr->qc[2 * nq + q], pr->qc[3 * nq + q]};
        for (int c = 0; c < pr->m; c++) {
            const Chunk *ch = &pr->chunks[c];
            if (ch->radius < 0) continue;
            const uint64_t qkey = extract_bits(qw, ch->start, ch->width);
            const uint32_t qpre = (uint32_t)(qkey & ((UINT64_C(1) << ch->prefix) - 1));
            const uint32_t qsuf = (uint32_t)(qkey >> ch->prefix);
            const uint32_t *off = ch->offsets, *tab = ch->table;
            const int64_t *mk = ch->masks;
            const Py_ssize_t nm = ch->n_masks;
            STAT(st_probes += nm);

            /* 1. bucket bounds of every probe (offsets reads prefetched ahead), bucket heads prefetched */
            Py_ssize_t nb = 0;
            for (Py_ssize_t k = 0; k < nm && k < PREFETCH_PROBES; k++) PREFETCH(off + (qpre ^ (uint32_t)mk[k]));
            for (Py_ssize_t k = 0; k < nm; k++) {
                if (k + PREFETCH_PROBES < nm) PREFETCH(off + (qpre ^ (uint32_t)mk[k + PREFETCH_PROBES]));
                const uint32_t key = qpre ^ (uint32_t)mk[k];
                const uint32_t lo = off[key], hi = off[key + 1];
                if (lo == hi) continue;
                if (UNLIKELY(lo > hi || hi > (uint64_t)n)) {
                    snprintf(detail, detail_len, "chunk %d: bucket %u spans [%u, %u) outside the %zd entries", c,
                             key, lo, hi, n);
                    status = PROBE_CORRUPT;
                    goto done;
                }
                PREFETCH(tab + lo);
                if (BUCKET_TAIL) PREFETCH(tab + hi - 1);
                STAT(st_buckets++; st_entries += hi - lo);
                buckets[nb].lo = lo;
                buckets[nb].hi = hi;
                buckets[nb].budget = ch->radius - POPCOUNT64((uint64_t)mk[k]);
                nb++;
            }

            /* 2. scan the buckets: the suffix bits in each entry's top bits drop most false candidates here */
            size_t nc = 0;
            for (Py_ssize_t b = 0; b < nb; b++) {
                const uint32_t lo = buckets[b].lo, hi = buckets[b].hi;
                const int budget = buckets[b].budget;
                if (UNLIKELY(nc + (hi - lo) > cand_cap)) {
                    size_t cap = cand_cap;
                    while (cap < nc + (hi - lo)) cap *= 2;
                    uint32_t *grown = (uint32_t *)realloc(cand, cap * sizeof(uint32_t));
                    if (!grown) {
                        status = PROBE_NOMEM;
                        goto done;
                    }
                    cand = grown;
                    cand_cap = cap;
                }
                uint32_t top = 0; /* largest position seen: one bounds check per bucket, not per entry */
                for (uint32_t i = lo; i < hi; i++) {
                    const uint32_t e = tab[i], p = e & POS_MASK;
                    top = p > top ? p : top;
                    if (POPCOUNT64((e >> POS_BITS) ^ qsuf) <= budget) {
                        cand[nc++] = p;
                    }
                }
                if (UNLIKELY((Py_ssize_t)top >= n)) {
                    snprintf(detail, detail_len, "chunk %d: a table entry points at position %u of %zd", c, top, n);
                    status = PROBE_CORRUPT;
                    goto done;
                }
            }

            /* 3. verify: full distance one word at a time, first words prefetched ahead. Words this chunk does
             * not cover go first (a candidate agrees with the query on its chunk, so they should reject it sooner;
             * measured: no change, most clustered candidates are near-duplicates that pass any first word). */
            const int *o = ch->word_order;
            const uint64_t *w0 = cw[o[0]], *w1 = cw[o[1]], *w2 = cw[o[2]], *w3 = cw[o[3]];
            const uint64_t q0 = qw[o[0]], q1 = qw[o[1]], q2 = qw[o[2]], q3 = qw[o[3]];
            for (size_t i = 0; i < nc && i < PREFETCH_CANDS; i++) {
                PREFETCH(w0 + cand[i]);
                if (PREFETCH_WORDS > 1) PREFETCH(w1 + cand[i]);
            }
            for (size_t i = 0; i < nc; i++) {
                if (i + PREFETCH_CANDS < nc) {
                    PREFETCH(w0 + cand[i + PREFETCH_CANDS]);
                    if (PREFETCH_WORDS > 1) PREFETCH(w1 + cand[i + PREFETCH_CANDS]);
                }
                const uint32_t p = cand[i];
                STAT(st_cand++);
                uint64_t x[4];
                x[o[0]] = w0[p] ^ q0;
                int d = POPCOUNT64(x[o[0]]);
                if (d > t) continue;
                STAT(st_w1++);
                x[o[1]] = w1[p] ^ q1;
                d += POPCOUNT64(x[o[1]]);
                if (d > t) continue;
                STAT(st_w2++);
                x[o[2]] = w2[p] ^ q2;
                d += POPCOUNT64(x[o[2]]);
                if (d > t) continue;
                x[o[3]] = w3[p] ^ q3;
                d += POPCOUNT64(x[o[3]]);
                if (d > t) continue;
                if (pr->alive && !((pr->alive[p >> 3] >> (p & 7)) & 1u)) continue;
                if (c > 0 && !first_finder(pr, c, x)) continue;
                if (results_push(out, (int64_t)q, (int64_t)p, d) < 0) {
                    status = PROBE_NOMEM;
                    goto done;
                }
            }
        }
    }
done:
#ifdef STATS
    fprintf(stderr, "per query: probes %.0f buckets %.0f entries %.0f cands %.0f word2 %.0f word3 %.0f\n",
            (double)st_probes / nq, (double)st_buckets / nq, (double)st_entries / nq, (double)st_cand / nq,
            (double)st_w1 / nq, (double)st_w2 / nq);
#endif
    free(cand);
    free(buckets);
    return status;
}

/* ------------------------------------------------------------------ brute-force scan */

HOT_CLONES
static int scan_loop(const uint64_t *qc, Py_ssize_t nq, int t, const uint64_t *cols, Py_ssize_t n,
                     const uint8_t *alive, Results *out) {
    const uint64_t *c0 = cols, *c1 = cols + n, *c2 = cols + 2 * n, *c3 = cols + 3 * n;
    for (Py_ssize_t q = 0; q < nq; q++) {
        const uint64_t q0 = qc[q], q1 = qc[nq + q], q2 = qc[2 * nq + q], q3 = qc[3 * nq + q];
        for (Py_ssize_t i = 0; i < n; i++) {
            const int d = POPCOUNT64(c0[i] ^ q0) + POPCOUNT64(c1[i] ^ q1) + POPCOUNT64(c2[i] ^ q2) +
                          POPCOUNT64(c3[i] ^ q3);
            if (d > t) continue;
            if (alive && !((alive[i >> 3] >> (i & 7)) & 1u)) continue;
            if (results_push(out, (int64_t)q, (int64_t)i, d) < 0) return PROBE_NOMEM;
        }
    }
    return PROBE_OK;
}

/* ------------------------------------------------------------------ argument parsing */

static int parse_threshold(PyObject *obj, int *t) {
    if (PyBool_Check(obj) || !PyLong_Check(obj)) {
        PyErr_Format(ProbeArgumentError, "t must be an integer, got %.100s", Py_TYPE(obj)->tp_name);
        return -1;
    }
    int overflow = 0;
    long v = PyLong_AsLongAndOverflow(obj, &overflow);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (overflow || v < 0 || v > HASH_BITS) {
        PyErr_Format(ProbeArgumentError, "t must be in 0..%d", HASH_BITS);
        return -1;
    }
    *t = (int)v;
    return 0;
}

/* queries (4, nq) uint64 and columns (4, n) uint64, plus the tombstone bitmap when given */
static int parse_hash_views(PyObject *qc_obj, PyObject *cols_obj, PyObject *alive_obj, Py_buffer *qv, Py_buffer *cv,
                            Py_buffer *av, int *have_alive) {
    *have_alive = 0;
    if (get_view(qc_obj, qv, "queries", 'u', 8, 2) < 0) return -1;
    if (qv->shape[0] != 4) {
        PyErr_Format(ProbeArgumentError, "queries must have shape (4, nq), got (%zd, %zd)", qv->shape[0],
                     qv->shape[1]);
        PyBuffer_Release(qv);
        return -1;
    }
    if (get_view(cols_obj, cv, "cols", 'u', 8, 2) < 0) {
        PyBuffer_Release(qv);
        return -1;
    }
    if (cv->shape[0] != 4) {
        PyErr_Format(ProbeArgumentError, "cols must have shape (4, n), got (%zd, %zd)", cv->shape[0], cv->shape[1]);
        goto fail;
    }
    if (alive_obj != Py_None) {
        if (get_view(alive_obj, av, "alive", 'u', 1, 1) < 0) goto fail;
        *have_alive = 1;
        if (av->shape[0] != (cv->shape[1] + 7) / 8) {
            PyErr_Format(ProbeArgumentError, "alive must hold (n + 7) // 8 = %zd bytes for %zd entries, got %zd",
                         (cv->shape[1] + 7) / 8, cv->shape[1], av->shape[0]);
            PyBuffer_Release(av);
            *have_alive = 0;
            goto fail;
        }
    }
    return 0;
fail:
    PyBuffer_Release(qv);
    PyBuffer_Release(cv);
    return -1;
}

static int parse_small_int(PyObject *seq, Py_ssize_t i, int lo, int hi, const char *what, int c, int *out) {
    PyObject *item = PySequence_GetItem(seq, i);
    if (!item) return -1;
    if (PyBool_Check(item) || !PyLong_Check(item)) {
        PyErr_Format(ProbeArgumentError, "plan[%d].%s must be an integer", c, what);
        Py_DECREF(item);
        return -1;
    }
    int overflow = 0;
    long v = PyLong_AsLongAndOverflow(item, &overflow);
    Py_DECREF(item);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (overflow || v < lo || v > hi) {
        PyErr_Format(ProbeArgumentError, "plan[%d].%s must be in %d..%d", c, what, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* One chunk's (start, width, prefix, radius) and its table, offsets and probe masks, all checked. */
static int parse_chunk(PyObject *plan_item, PyObject *table_obj, PyObject *offsets_obj, PyObject *masks_obj, int c,
                       Py_ssize_t n, Chunk *ch, Py_buffer views[3], int *held) {
    *held = 0;
    if (!PySequence_Check(plan_item) || PySequence_Size(plan_item) != 4) {
        PyErr_Format(ProbeArgumentError, "plan[%d] must be a (start, width, prefix, radius) tuple", c);
        return -1;
    }
    if (parse_small_int(plan_item, 0, 0, HASH_BITS - 1, "start", c, &ch->start) < 0 ||
        parse_small_int(plan_item, 1, 1, MAX_PREFIX + MAX_SUFFIX, "width", c, &ch->width) < 0 ||
        parse_small_int(plan_item, 2, 1, MAX_PREFIX, "prefix", c, &ch->prefix) < 0 ||
        parse_small_int(plan_item, 3, -1, HASH_BITS, "radius", c, &ch->radius) < 0) {
        return -1;
    }
    if (ch->start + ch->width > HASH_BITS || ch->prefix > ch->width || ch->width - ch->prefix > MAX_SUFFIX) {
        PyErr_Format(ProbeArgumentError,
                     "plan[%d]: chunk [%d, %d) with a %d-bit prefix does not fit 256 bits and 4 suffix bits", c,
                     ch->start, ch->start + ch->width, ch->prefix);
        return -1;
    }
    if (get_view(table_obj, &views[0], "tables[c]", 'u', 4, 1) < 0) return -1;
    *held = 1;
    if (views[0].shape[0] != n) {
        PyErr_Format(ProbeArgumentError, "tables[%d] must hold one entry per position (%zd), got %zd", c, n,
                     views[0].shape[0]);
        return -1;
    }
    if (get_view(offsets_obj, &views[1], "offsets[c]", 'u', 4, 1) < 0) return -1;
    *held = 2;
    if (views[1].shape[0] != ((Py_ssize_t)1 << ch->prefix) + 1) {
        PyErr_Format(ProbeArgumentError, "offsets[%d] must have 2**%d + 1 entries, got %zd", c, ch->prefix,
                     views[1].shape[0]);
        return -1;
    }
    if (get_view(masks_obj, &views[2], "masks[c]", 'i', 8, 1) < 0) return -1;
    *held = 3;
    int k = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int w = 0; w < 4; w++) {
            const int touches = ch->start < 64 * (w + 1) && ch->start + ch->width > 64 * w;
            if (touches == pass) ch->word_order[k++] = w;
        }
    }
    ch->table = (const uint32_t *)views[0].buf;
    ch->offsets = (const uint32_t *)views[1].buf;
    ch->masks = (const int64_t *)views[2].buf;
    ch->n_masks = views[2].shape[0];
    const int64_t limit = (int64_t)1 << ch->prefix;
    for (Py_ssize_t k = 0; k < ch->n_masks; k++) {
        const int64_t v = ch->masks[k];
        if (v < 0 || v >= limit || POPCOUNT64((uint64_t)v) > ch->radius) {
            PyErr_Format(ProbeArgumentError, "masks[%d][%zd] = %lld is not a %d-bit mask of weight <= %d", c, k,
                         (long long)v, ch->prefix, ch->radius);
            return -1;
        }
    }
    return 0;
}

static PyObject *raise_status(int status, const char *detail) {
    if (status == PROBE_NOMEM) return PyErr_NoMemory();
    PyErr_Format(ProbeArgumentError, "inconsistent index tables: %s", detail);
    return NULL;
}

PyDoc_STRVAR(probe_doc,
             "probe(queries, t, cols, alive, tables, offsets, masks, plan) -> (qi, pos, dist) as bytes\n\n"
             "Multi-index probe of the main tables: every live position within Hamming distance t of each query,\n"
             "reported once (from the first chunk whose radius covers it). queries: (4, nq) uint64 permuted words;\n"
             "cols: (4, n) uint64; alive: packed tombstone bitmap or None; tables/offsets/masks: one uint32 table,\n"
             "uint32 offsets and int64 probe-mask array per chunk; plan: (start, width, prefix, radius) per chunk.\n"
             "Returns int64 query indexes, int64 positions and int16 distances as raw bytes.");

static PyObject *mih_probe(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *qc_obj, *t_obj, *cols_obj, *alive_obj, *tables, *offsets, *masks, *plan;
    if (!PyArg_ParseTuple(args, "OOOOOOOO:probe", &qc_obj, &t_obj, &cols_obj, &alive_obj, &tables, &offsets, &masks,
                          &plan)) {
        return NULL;
    }
    Probe pr;
    memset(&pr, 0, sizeof(pr));
    if (parse_threshold(t_obj, &pr.t) < 0) return NULL;
    if (!PyTuple_Check(tables) || !PyTuple_Check(offsets) || !PyTuple_Check(masks) || !PyTuple_Check(plan)) {
        PyErr_SetString(ProbeArgumentError, "tables, offsets, masks and plan must be tuples");
        return NULL;
    }
    const Py_ssize_t m = PyTuple_GET_SIZE(plan);
    if (m < 1 || m > MAX_CHUNKS || PyTuple_GET_SIZE(tables) != m || PyTuple_GET_SIZE(offsets) != m ||
        PyTuple_GET_SIZE(masks) != m) {
        PyErr_Format(ProbeArgumentError, "plan, tables, offsets and masks must have the same length in 1..%d",
                     MAX_CHUNKS);
        return NULL;
    }
    Py_buffer qv, cv, av;
    int have_alive;
    if (parse_hash_views(qc_obj, cols_obj, alive_obj, &qv, &cv, &av, &have_alive) < 0) return NULL;
    pr.qc = (const uint64_t *)qv.buf;
    pr.nq = qv.shape[1];
    pr.cols = (const uint64_t *)cv.buf;
    pr.n = cv.shape[1];
    pr.alive = have_alive ? (const uint8_t *)av.buf : NULL;
    pr.m = (int)m;

    Py_buffer views[MAX_CHUNKS][3];
    int held[MAX_CHUNKS];
    memset(held, 0, sizeof(held));
    PyObject *result = NULL;
    Results out;
    memset(&out, 0, sizeof(out));
    if (pr.n > (Py_ssize_t)POS_MASK + 1) {
        PyErr_Format(ProbeArgumentError, "at most 2**%d entries can be addressed, got %zd", POS_BITS, pr.n);
        goto cleanup;
    }
    for (int c = 0; c < pr.m; c++) {
        if (parse_chunk(PyTuple_GET_ITEM(plan, c), PyTuple_GET_ITEM(tables, c), PyTuple_GET_ITEM(offsets, c),
                        PyTuple_GET_ITEM(masks, c), c, pr.n, &pr.chunks[c], views[c], &held[c]) < 0) {
            goto cleanup;
        }
        if (pr.chunks[c].n_masks > pr.max_masks) pr.max_masks = pr.chunks[c].n_masks;
    }
    char detail[200] = "";
    int status;
    Py_BEGIN_ALLOW_THREADS status = probe_loop(&pr, &out, detail, sizeof(detail));
    Py_END_ALLOW_THREADS if (status != PROBE_OK) {
        raise_status(status, detail);
        goto cleanup;
    }
    result = results_to_python(&out);
cleanup:
    results_free(&out);
    for (int c = 0; c < pr.m; c++) {
        for (int k = 0; k < held[c]; k++) PyBuffer_Release(&views[c][k]);
    }
    if (have_alive) PyBuffer_Release(&av);
    PyBuffer_Release(&qv);
    PyBuffer_Release(&cv);
    return result;
}

PyDoc_STRVAR(scan_doc,
             "scan(queries, t, cols, alive) -> (qi, pos, dist) as bytes\n\n"
             "Brute-force scan: every (live) position within Hamming distance t of each query. Same argument\n"
             "conventions as probe; used for the unmerged delta buffer and for thresholds where probing is slower.");

static PyObject *mih_scan(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *qc_obj, *t_obj, *cols_obj, *alive_obj;
    if (!PyArg_ParseTuple(args, "OOOO:scan", &qc_obj, &t_obj, &cols_obj, &alive_obj)) return NULL;
    int t;
    if (parse_threshold(t_obj, &t) < 0) return NULL;
    Py_buffer qv, cv, av;
    int have_alive;
    if (parse_hash_views(qc_obj, cols_obj, alive_obj, &qv, &cv, &av, &have_alive) < 0) return NULL;
    Results out;
    memset(&out, 0, sizeof(out));
    int status;
    Py_BEGIN_ALLOW_THREADS status =
        scan_loop((const uint64_t *)qv.buf, qv.shape[1], t, (const uint64_t *)cv.buf, cv.shape[1],
                  have_alive ? (const uint8_t *)av.buf : NULL, &out);
    Py_END_ALLOW_THREADS PyObject *result = status == PROBE_OK ? results_to_python(&out) : raise_status(status, "");
    results_free(&out);
    if (have_alive) PyBuffer_Release(&av);
    PyBuffer_Release(&qv);
    PyBuffer_Release(&cv);
    return result;
}

static PyMethodDef methods[] = {
    {"probe", mih_probe, METH_VARARGS, probe_doc},
    {"scan", mih_scan, METH_VARARGS, scan_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_mihprobe", "Compiled probe loop of the PDQ multi-index (see pdq_index.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__mihprobe(void) {
    PyObject *errors = PyImport_ImportModule("blindmatch.index.errors");
    if (!errors) return NULL;
    ProbeArgumentError = PyObject_GetAttrString(errors, "ProbeArgumentError");
    Py_DECREF(errors);
    if (!ProbeArgumentError) return NULL;
    PyObject *mod = PyModule_Create(&module);
    if (!mod) return NULL;
    if (PyModule_AddIntConstant(mod, "POS_BITS", POS_BITS) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
