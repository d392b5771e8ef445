/* otaloop native-bootloader shim layer: the firmware's heap, with the target C library's rules.
 *
 * The firmware's malloc, calloc, realloc and free (linked with --wrap) use a fixed arena of
 * OTALOOP_HEAP_SIZE bytes (the project's heap size, 8192 in Harmony's OTA bootloader projects) inside
 * the program's .bss, so the heap is part of the RAM a power cut loses and the loop detector hashes, and
 * an allocation fails where the target's small heap would run out rather than never.
 *
 * realloc(p, 0) follows newlib (XC32's C library) built without REALLOC_ZERO_BYTES_FREES: it returns
 * p shrunk to a minimum block, not NULL. glibc frees p and returns NULL, which code such as "shrink a
 * table to zero rows and fail on NULL" would take for an error. malloc(0) returns a minimum block too.
 * Blocks carry an 8-byte header and are 8-byte aligned, as in newlib's 32-bit malloc; the exact
 * address at which the arena runs out can still differ by a few bytes from the target's.
 *
 * Built for a --sanitize=address build (OTALOOP_ASAN_HEAP), the heap tells AddressSanitizer which bytes
 * the firmware may touch: the arena starts poisoned, an allocation unpoisons exactly the bytes asked
 * for, free poisons them again. A read or write past a block, into a header or into a freed block is
 * then reported (as use-after-poison). This file itself is not instrumented.
 * It is otaloop's own code.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifndef OTALOOP_HEAP_SIZE
#define OTALOOP_HEAP_SIZE 8192
#endif

#ifdef OTALOOP_ASAN_HEAP
void __asan_poison_memory_region(void const volatile *addr, size_t size);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#define POISON(p, n) __asan_poison_memory_region((p), (n))
#define UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#ifdef OTALOOP_MEMCHECK
#include <valgrind/memcheck.h>
/* A new block holds whatever the arena held, as a heap on the part does: to memcheck its bytes are undefined. */
#define FRESH(p, n) ((void)VALGRIND_MAKE_MEM_UNDEFINED((p), (n)))
#else
#define FRESH(p, n) ((void)(p), (void)(n))
#endif

#define ALIGN 8u
#define HEADER 8u
#define MIN_BLOCK 16u

/* Block header: size of the whole block (header included) and whether it is in use. */
typedef struct {
    uint32_t size;
    uint32_t used;
} block;

static _Alignas(16) uint8_t arena[OTALOOP_HEAP_SIZE];
static uint32_t arena_ready;

static block *first(void) { return (block *)(void *)arena; }
static block *next(block *b) { return (block *)(void *)((uint8_t *)b + b->size); }
static int in_arena(const void *p) {
    return (const uint8_t *)p >= arena && (const uint8_t *)p < arena + sizeof arena;
}

static void setup(void) {
    if (arena_ready) return;
    first()->size = (uint32_t)(sizeof arena & ~(ALIGN - 1u));
    first()->used = 0;
    arena_ready = 1;
    POISON(arena, sizeof arena);
}

static uint32_t need(size_t n) {
    size_t total = (n + HEADER + ALIGN - 1u) & ~(size_t)(ALIGN - 1u);
    if (total < MIN_BLOCK) total = MIN_BLOCK;
    if (total > sizeof arena) return 0;
    return (uint32_t)total;
}

static void coalesce(void) {
    block *b = first();
    uint8_t *end = arena + (sizeof arena & ~(ALIGN - 1u));
    while ((uint8_t *)b < end) {
        block *n = next(b);
        if (!b->used && (uint8_t *)n < end && !n->used) {
            b->size += n->size;
            continue;
        }
        b = n;
    }
}

static void split(block *b, uint32_t size) {
    if (b->size >= size + MIN_BLOCK) {
        block *rest = (block *)(void *)((uint8_t *)b + size);
        rest->size = b->size - size;
        rest->used = 0;
        b->size = size;
    }
}

void *__wrap_malloc(size_t n) {
    setup();
    uint32_t size = need(n);
    if (!size) return NULL;
    block *b = first();
    uint8_t *end = arena + (sizeof arena & ~(ALIGN - 1u));
    while ((uint8_t *)b < end) {
        if (!b->used && b->size >= size) {
            split(b, size);
            b->used = 1;
            UNPOISON((uint8_t *)b + HEADER, n);
            FRESH((uint8_t *)b + HEADER, b->size - HEADER);
            return (uint8_t *)b + HEADER;
        }
        b = next(b);
    }
    return NULL;
}

void __wrap_free(void *p) {
    if (p == NULL || !in_arena(p)) return;
    block *b = (block *)(void *)((uint8_t *)p - HEADER);
    b->used = 0;
    POISON(p, b->size - HEADER);
    coalesce();
}

void *__wrap_calloc(size_t count, size_t n) {
    if (n && count > SIZE_MAX / n) return NULL;
    void *p = __wrap_malloc(count * n);
    if (p) memset(p, 0, count * n);
    return p;
}

void *__wrap_realloc(void *p, size_t n) {
    if (p == NULL) return __wrap_malloc(n);
    if (!in_arena(p)) return NULL;
    block *b = (block *)(void *)((uint8_t *)p - HEADER);
    uint32_t size = need(n);
    if (!size) return NULL;
    if (b->size >= size) { /* shrink in place (n == 0 included: newlib keeps a minimum block) */
        POISON(p, b->size - HEADER);
        split(b, size);
        UNPOISON(p, n);
        coalesce();
        return p;
    }
    block *n2 = next(b);
    uint8_t *end = arena + (sizeof arena & ~(ALIGN - 1u));
    if ((uint8_t *)n2 < end && !n2->used && b->size + n2->size >= size) {
        uint32_t had = b->size;
        b->size += n2->size;
        split(b, size);
        FRESH((uint8_t *)b + had, b->size - had); /* the grown part: the neighbour's bytes, header included */
        UNPOISON(p, n);
        return p;
    }
    void *q = __wrap_malloc(n);
    if (q == NULL) return NULL; /* the old block stays valid, as the standard says */
    UNPOISON(p, b->size - HEADER); /* the copy may read the old block's slack */
    memcpy(q, p, b->size - HEADER < n ? b->size - HEADER : n);
    __wrap_free(p);
    return q;
}
