/* otaloop native-bootloader shim layer: the host process that runs one boot of a bootloader.
 *
 * One process is one power-up: main() maps internal flash at the PIC32's KSEG0 and KSEG1 addresses
 * (0x9000_0000, 0xB000_0000) and the external flash anywhere, then calls the firmware's own
 * SYS_Initialize() and SYS_Tasks() for ever, as Harmony's main.c does. Every erase and program goes to
 * the Python runner over a pipe as one message; a planned power cut is the runner killing this
 * process, so RAM is lost and the C code stops where it is. Console bytes travel on the same pipe, in
 * order with the flash operations.
 *
 * Operations are posted: the runner carries them out in order without answering, and this process goes
 * on at once. It applies each operation to its own shadow of the blocks concerned (erase: all 0xFF;
 * program: old AND new, an SPI page program wrapping inside its page), which the loop detector hashes,
 * and from then on its mappings of those blocks show the shadow (a memory file of the run's own): the
 * C code reads its own writes at once, the same bytes the runner writes into the shared memory once it
 * has carried the operations out, and never waits for the runner. Messages are collected and written in
 * large pieces (when 64 KiB wait, before waiting for an answer, and at the end). A power cut at a
 * posted operation kills this process wherever it has got to since: the runner discards what follows
 * the cut operation unread, so the outcome is the one of a process stopped inside that call.
 *
 * Started with --serve, the process is a fork server: it does the set-up above once, then keeps one
 * child forked ahead that runs the firmware from its pristine RAM when the runner asks for a boot (see
 * serve() for the exchange on the Unix socket), waits for it and reports its wait status. The parent
 * never runs firmware code, so every child starts from the same RAM as a freshly started process would,
 * and a power cut (the runner killing the child) loses exactly that child's RAM.
 *
 * What a run reads: the flash is mapped with no access at all. The first touch of each 4 KiB block of
 * a mapping faults; the fault handler tells the runner (OTALOOP_MSG_TOUCH, in order with the erase and
 * program messages) and makes that block readable (or, when the run changed it, shows its shadow), and
 * the access is retried. So the runner learns
 * which blocks the run read, and when, which its verdict cache needs (harness/sweeps/memo.py). A fault
 * on a block already readable is a real fault (a write to flash, or a call into it: the jump).
 *
 * How a run ends:
 *  - the jump: calling the application's entry point faults (flash is mapped without execute
 *    permission); the fault handler reports the address called;
 *  - the software reset: reading RSWRST after RSWRSTSET = SWRST (see xc.h);
 *  - a loop for ever: after each main-loop pass the state of the machine is hashed -- the writable RAM
 *    of the program (.data, .bss, the firmware heap) and both flashes (a sum of per-4-KiB-block hashes,
 *    updated around every erase and program). A pass that ends in a state seen before means a cycle the
 *    machine cannot leave (RAM and flash are its only inputs), even when each turn rewrites flash with
 *    the same bytes. The runner lets the cycle run STUCK_REPEATS times from its first state, so a loop
 *    that prints shows about the lines the Python model shows, then reports it. (Example builds, whose
 *    file calls run on the host's side, restart the search after each file call that changed flash,
 *    and count the host's file state, which each answer carries, as part of the machine's state.);
 *    After DENSE_PASSES passes without a flash operation the state is looked up only every
 *    SPARSE_EVERY-th pass (the hashes cost more than most passes);
 *  - QUIET_PASSES passes without any flash operation (a loop whose RAM keeps changing);
 *  - a main-loop pass that does not return within a CPU-time budget (a loop inside one call), a data
 *    access fault (the part's bus error exception ends in the general exception handler's loop), or the
 *    pass budget: reported as stuck with the reason.
 *
 * Coverage builds (OTALOOP_COVERAGE) do not post flash operations: each waits for its answer. At the
 * end of a run, and when the host answers an operation with
 * OTALOOP_ANSWER_CUT (the power is cut there), the runner sends the bitmap of gcov counters the run moved
 * and writes the counts (__gcov_dump, __gcov_reset) before it exits; no line of the firmware runs after a
 * cut. The counters live in their own section (otaloop_gcov.ld), outside the RAM the loop detector hashes.
 *
 * It is otaloop's own code; it contains no Harmony source.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#ifdef OTALOOP_MEMCHECK
#include <valgrind/memcheck.h>
#endif
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "otaloop_host.h"

void SYS_Initialize(void *data);
void SYS_Tasks(void);


#define STUCK_REPEATS 3u
/* Main-loop passes without any flash operation after which a run counts as a silent loop even though
 * its RAM keeps changing (a request counter of a driver, say). No path of an OTA bootloader goes this
 * long without erasing or programming unless it waits for ever: VERIFY of a full slot takes about 1000. */
#define QUIET_PASSES 20000u
/* The state is looked up after every pass for the first DENSE_PASSES passes without a flash operation,
 * then after every SPARSE_EVERY-th: a long quiet stretch is nearly always a loop whose RAM keeps
 * changing (it ends at QUIET_PASSES), and checking it sparsely still finds any cycle, since two checked
 * passes a multiple of the cycle's length apart see the same state; such a cycle's reported length is
 * then that multiple. Every boot of the default sweep that ends in a cycle finds it in the dense part. */
#define DENSE_PASSES 2048u
#define SPARSE_EVERY 16u
#define SEEN_SLOTS 16384u /* a power of two */
#define BLOCK 4096u
#define KSEG0 0x90000000u
#define KSEG1 0xB0000000u
#define MAX_BLOCKS 4096u /* 16 MiB of external flash */

/* Everything the runner itself changes lives outside the program's .data/.bss (mapped at start-up),
 * so the RAM hash sees only the firmware's state. */
struct runner_state {
    int in_fd, out_fd;
    const uint8_t *ext;
    uint32_t ext_size;
    uint64_t ops;           /* flash operations so far */
    uint64_t pass;          /* main-loop passes so far */
    uint64_t max_passes;
    uint64_t ops_at_pass_start;
    uint64_t remote_at_pass_start;
    uint64_t last_op_pass;
    uint32_t cpu_budget_s;
    volatile uint32_t pass_ticks; /* watchdog ticks since the current pass started */
    uint64_t flash_hash;    /* sum of per-4-KiB-block hashes of both flashes, relative to power-up */
    uint64_t remote_calls;  /* file calls that changed flash on the host's side (example builds) */
    uint64_t host_state;    /* the host's file state after the last file call (open files, positions) */
    uint32_t ahead_valid;   /* a READ answered ahead is waiting (OTALOOP_REPLY_AHEAD) ... */
    uint32_t ahead_handle, ahead_want, ahead_got; /* ... for this handle and size: this many bytes ... */
    uint64_t ahead_state;   /* ... and the host's file state after it */
    uint8_t ahead[OTALOOP_AHEAD_MAX];
    uint64_t seen_key[SEEN_SLOTS];
    uint64_t seen_pass[SEEN_SLOTS];
    uint32_t seen_count;
    uint64_t cycle_end;     /* when a cycle was found: the pass after which the run stops */
    uint64_t cycle_len;
    uint8_t opened[3][MAX_BLOCKS]; /* blocks made readable: KSEG0, KSEG1, external mapping */
    uint8_t showing[3][MAX_BLOCKS]; /* opened blocks whose view shows the shadow (show_shadow) */
    int shadow_fd[2];              /* the memory files of the shadows, one per device */
    uint8_t known[2][MAX_BLOCKS];  /* blocks whose hash is in flash_hash: internal, external */
    uint8_t shadowed[2][MAX_BLOCKS]; /* blocks whose contents after this run's operations are in shadow */
    uint64_t hash[2][MAX_BLOCKS];  /* each known block's hash, as added to flash_hash */
    uint8_t *shadow[2];            /* this run's copies of the blocks it erased or programmed */
    uint8_t *ram_copy;             /* the program's RAM at the last hashed pass end */
    uint32_t ram_chunks;
    uint32_t ram_ready;
    uint64_t ram_sum;              /* the RAM hash: a sum of per-word hashes (ram_hash) */
    uint32_t out_len, out_sent;    /* messages waiting in out[], and how much of them is written */
    uint8_t out[131072];
    char altstack[65536];
};
static struct runner_state *R;

extern char __data_start[];
extern char _end[];
/* Coverage builds link otaloop_gcov.ld: the gcov counters sit between these two symbols, outside the
 * RAM the loop detector hashes (they change on every pass). Absent (null) in other builds. */
extern char __start_otaloop_gcov[] __attribute__((weak));
extern char __stop_otaloop_gcov[] __attribute__((weak));

static void send_msg(uint32_t type, uint32_t a, uint32_t b, const void *payload, uint32_t length);

#ifdef OTALOOP_COVERAGE
void __gcov_dump(void);
void __gcov_reset(void);
/* Tell the host which counters this run moved (one bit per 64-bit gcov counter, in section order: what
 * a coverage-guided search steers by), add the counts to the .gcda files (gcov merges them under a file
 * lock, so parallel helpers of one build add up), then start counting from zero. */
static void coverage_flush(void) {
    const uint64_t *c = (const uint64_t *)(void *)__start_otaloop_gcov;
    const uint64_t *e = (const uint64_t *)(void *)__stop_otaloop_gcov;
    if (c && e && c < e) {
        uint32_t n = (uint32_t)(e - c);
        uint8_t bits[(n + 7u) / 8u];
        memset(bits, 0, sizeof bits);
        for (uint32_t i = 0; i < n; i++)
            if (c[i]) bits[i >> 3] |= (uint8_t)(1u << (i & 7u));
        send_msg(OTALOOP_MSG_ARCS, n, 0, bits, (uint32_t)sizeof bits);
    }
    __gcov_dump();
    __gcov_reset();
}
#else
static void coverage_flush(void) {}
#endif

static void write_all(int fd, const void *data, size_t length) {
    const uint8_t *p = data;
    while (length) {
        ssize_t n = write(fd, p, length);
        if (n < 0) {
            if (errno == EINTR) continue;
            _exit(70);
        }
        p += n;
        length -= (size_t)n;
    }
}

static void read_all(int fd, void *data, size_t length) {
    uint8_t *p = data;
    while (length) {
        ssize_t n = read(fd, p, length);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) _exit(71); /* the runner went away: nothing more to do */
        p += n;
        length -= (size_t)n;
    }
}

/* Touch one byte of every 4 KiB block of a buffer, so a buffer in flash is made readable (and its first
 * read reported) before a message starts: write(2) would fail on a block still without access. */
static void touch(const void *data, uint32_t length) {
    const volatile uint8_t *p = data;
    for (uint32_t i = 0; i < length; i += BLOCK - (uint32_t)(((uintptr_t)(p + i)) % BLOCK)) (void)p[i];
}

/* Messages are collected in R->out and written in large pieces: when OUT_FLUSH bytes are waiting, before
 * this process waits for an answer, and when it ends (flush_out). The runner reads them in the same order,
 * only later; nothing it does depends on when a posted message arrives. */
#define OUT_FLUSH 65536u
static void flush_out(void) {
    while (R->out_sent < R->out_len) { /* resumable: a watchdog's end may flush from inside a flush */
        ssize_t n = write(R->out_fd, R->out + R->out_sent, R->out_len - R->out_sent);
        if (n < 0) {
            if (errno == EINTR) continue;
            _exit(70);
        }
        R->out_sent += (uint32_t)n;
    }
    R->out_len = R->out_sent = 0;
}

static void send_msg(uint32_t type, uint32_t a, uint32_t b, const void *payload, uint32_t length) {
    uint32_t head[4] = {type, a, b, length};
    if (length) touch(payload, length); /* before the buffer changes: a first touch adds its own message */
    if (R->out_len + sizeof head + length > sizeof R->out) flush_out();
    if (sizeof head + length > sizeof R->out) {
        write_all(R->out_fd, head, sizeof head);
        write_all(R->out_fd, payload, length);
        return;
    }
    memcpy(R->out + R->out_len, head, sizeof head);
    if (length) memcpy(R->out + R->out_len + sizeof head, payload, length);
    R->out_len += (uint32_t)(sizeof head + length); /* only now: a message is in whole or not at all */
    if (R->out_len >= OUT_FLUSH) flush_out();
}

/* The power is cut at this operation: nothing of the firmware runs any more; a coverage build keeps the
 * counts up to here. */
__attribute__((noreturn)) static void power_cut(void) {
    coverage_flush();
    flush_out();
    _exit(0);
}

__attribute__((unused)) static void wait_ok(void) { /* coverage builds */
    uint32_t answer = 0;
    flush_out();
    read_all(R->in_fd, &answer, sizeof answer);
    if (answer == OTALOOP_ANSWER_CUT) power_cut();
    if (answer != 0) _exit(72);
}

__attribute__((noreturn)) static void finish(uint32_t outcome, uint32_t address, const char *reason) {
    char text[512];
    uint32_t passes = (uint32_t)R->pass;
    size_t n = reason ? strlen(reason) : 0;
    if (n > sizeof text - 4) n = sizeof text - 4;
    memcpy(text, &passes, 4);
    if (n) memcpy(text + 4, reason, n);
    coverage_flush();
    send_msg(OTALOOP_MSG_END, outcome, address, text, (uint32_t)(n + 4));
    flush_out();
    _exit(0);
}

/* ------------------------------------------------------------------------------ flash state hash */
static uint64_t mix(uint64_t h, uint64_t w) {
    h = (h ^ w) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

/* A 64-bit hash of n bytes: four independent mix chains over interleaved words (a 32-bit build's 64-bit
 * multiplies overlap instead of waiting on each other), folded together at the end. */
static uint64_t hash_bytes(uint64_t seed, const uint8_t *p, uint32_t n) {
    uint64_t h0 = seed, h1 = seed ^ 0x9e3779b97f4a7c15ull, h2 = seed ^ 0xc2b2ae3d27d4eb4full,
             h3 = seed ^ 0x165667b19e3779f9ull;
    uint32_t i = 0;
    for (; i + 32 <= n; i += 32) {
        uint64_t w0, w1, w2, w3;
        memcpy(&w0, p + i, 8), memcpy(&w1, p + i + 8, 8), memcpy(&w2, p + i + 16, 8), memcpy(&w3, p + i + 24, 8);
        h0 = mix(h0, w0), h1 = mix(h1, w1), h2 = mix(h2, w2), h3 = mix(h3, w3);
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h0 = mix(h0, w);
    }
    for (; i < n; i++) h1 = mix(h1, p[i]);
    return mix(mix(mix(mix(h0, h1), h2), h3), n);
}

static uint64_t block_hash(uint32_t device, uint32_t block) {
    const uint8_t *p = R->shadow[device] + (size_t)block * BLOCK;
    return hash_bytes(mix(0xcbf29ce484222325ull, ((uint64_t)device << 32) | block), p, BLOCK);
}

static uint32_t device_size(uint32_t device) { return device == OTALOOP_INTERNAL ? OTALOOP_FLASH_SIZE : R->ext_size; }

/* The shadow copy of a block, loaded from the mapping on first use (no operation of this run has
 * touched it yet, so the mapping holds its contents; reading it is a read of the run). */
static uint8_t *shadow_block(uint32_t device, uint32_t block) {
    uint8_t *p = R->shadow[device] + (size_t)block * BLOCK;
    if (!R->shadowed[device][block]) {
        const uint8_t *view = device == OTALOOP_INTERNAL ? (const uint8_t *)(uintptr_t)KSEG0 : R->ext;
        if (!R->showing[device == OTALOOP_INTERNAL ? 0 : 2][block]) memcpy(p, view + (size_t)block * BLOCK, BLOCK);
        R->shadowed[device][block] = 1;
    }
    return p;
}

/* The flash state hash around one operation on blocks first..first+count-1: each known block's hash is
 * taken out before, and every block's hash after (computed on the shadow) put in. A block no operation
 * has touched is left out of flash_hash (it stands for "the block as at power-up"), so the state key
 * never depends on bytes the firmware did not read: two passes with the same key have the same RAM and
 * the same flash, and a run's outcome depends only on what it read. */
static void unaccount(uint32_t device, uint32_t first, uint32_t count) {
    for (uint32_t b = first; b < first + count && b < MAX_BLOCKS; b++)
        if (R->known[device][b]) R->flash_hash -= R->hash[device][b];
}
static void account(uint32_t device, uint32_t first, uint32_t count) {
    for (uint32_t b = first; b < first + count && b < MAX_BLOCKS; b++) {
        R->hash[device][b] = block_hash(device, b);
        R->flash_hash += R->hash[device][b];
        R->known[device][b] = 1;
    }
}

/* This run's own copy of a block shown at one of its views, from then on: the shadow holds the block as
 * the run's operations left it -- the bytes the runner writes into the shared memory once it has carried
 * them out (erase: all 0xFF; program: old AND new) -- and every later operation of the run updates it in
 * place, so the C code reads its own writes at once instead of waiting for the runner. */
static void show_shadow(uint32_t region, uint32_t device, uint32_t block) {
    uintptr_t bases[3] = {KSEG0, KSEG1, (uintptr_t)R->ext};
    void *at = (void *)(bases[region] + (uintptr_t)block * BLOCK);
    if (mmap(at, BLOCK, PROT_READ, MAP_SHARED | MAP_FIXED, R->shadow_fd[device], (off_t)block * BLOCK) != at) _exit(79);
    R->showing[region][block] = 1;
}

/* An operation was posted on these blocks (its result is in the shadow already): every view of them the
 * run has opened shows the shadow from now on. */
static void follow_shadow(uint32_t device, uint32_t first, uint32_t count) {
    uint32_t from = device == OTALOOP_INTERNAL ? 0u : 2u, to = device == OTALOOP_INTERNAL ? 2u : 3u;
    for (uint32_t r = from; r < to; r++)
        for (uint32_t b = first; b < first + count && b < MAX_BLOCKS; b++)
            if (R->opened[r][b] && !R->showing[r][b] && R->shadowed[device][b]) show_shadow(r, device, b);
}

/* An erase or program of blocks first..first+count-1 was sent. Plain and sanitizer builds post it (see
 * follow_shadow); a memcheck build waits for its answer (see open_all_blocks), and so does a coverage
 * build, so a power cut there is answered with OTALOOP_ANSWER_CUT and the counts up to this call are
 * written (power_cut). Either way the views of the blocks show the shadow from then on. */
static void flash_op_sent(uint32_t device, uint32_t first, uint32_t count) {
#if defined(OTALOOP_COVERAGE) || defined(OTALOOP_MEMCHECK) /* memcheck: see open_all_blocks */
    wait_ok();
#endif
    follow_shadow(device, first, count); /* the runner does not copy the result back into the shared memory */
}

/* Each run's shadows live in memory files of its own, so a block of them can be shown at a view
 * (show_shadow). Made by each child before it starts (not inherited: a run's shadow is its own). */
static void own_shadows(void) {
    for (uint32_t d = 0; d < 2; d++) {
        size_t n = device_size(d) ? device_size(d) : BLOCK;
        int fd = memfd_create("otaloop-shadow", MFD_CLOEXEC);
        if (fd < 0 || ftruncate(fd, (off_t)n) != 0) _exit(75);
        if (mmap(R->shadow[d], n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) != R->shadow[d]) _exit(75);
        R->shadow_fd[d] = fd;
    }
}

/* ------------------------------------------------------------------------------ services for shims */
static uint32_t offset_of(uint32_t device, uint32_t address) {
    return device == OTALOOP_INTERNAL ? address - OTALOOP_FLASH_PHYS : address;
}

void otaloop_flash_erase(uint32_t device, uint32_t unit, uint32_t address) {
    uint32_t size = unit == OTALOOP_ERASE_SMALLEST ? BLOCK
                    : unit == OTALOOP_ERASE_BLOCK  ? 65536u
                    : device == OTALOOP_INTERNAL   ? OTALOOP_FLASH_SIZE
                                                   : R->ext_size;
    uint32_t off = offset_of(device, address);
    uint32_t first = off / BLOCK, count = (size + BLOCK - 1) / BLOCK;
    R->ops++;
    if (off < device_size(device) && size <= device_size(device) - off) {
        unaccount(device, first, count);
        memset(R->shadow[device] + off, 0xFF, size);
        for (uint32_t b = first; b < first + count; b++) R->shadowed[device][b] = 1;
        account(device, first, count);
    }
    send_msg(OTALOOP_MSG_ERASE, device | (unit << 8), address, NULL, 0);
    flash_op_sent(device, first, count);
}

void otaloop_flash_program(uint32_t device, uint32_t address, const void *data, uint32_t length) {
    uint32_t off = offset_of(device, address);
    uint32_t first = off / BLOCK, count = (off % BLOCK + length + BLOCK - 1) / BLOCK;
    uint32_t page = device == OTALOOP_EXTERNAL ? 256u : 0u; /* an SPI page program wraps inside its page */
    R->ops++;
    if (page) first = (off - off % page) / BLOCK, count = 1;
    if (off < device_size(device) && length <= device_size(device) - off && (!page || length <= page)) {
        unaccount(device, first, count);
        const uint8_t *from = data;
        if (off % BLOCK + length <= BLOCK && (!page || off % page + length <= page)) { /* the usual case */
            uint8_t *to = shadow_block(device, off / BLOCK) + off % BLOCK;
            for (uint32_t i = 0; i < length; i++) to[i] &= from[i]; /* NOR programming: old AND data */
        } else {
            for (uint32_t i = 0; i < length; i++) {
                uint32_t at = page ? off - off % page + (off % page + i) % page : off + i;
                shadow_block(device, at / BLOCK)[at % BLOCK] &= from[i];
            }
        }
        account(device, first, count);
    }
    send_msg(OTALOOP_MSG_PROGRAM, device, address, data, length);
    flash_op_sent(device, first, count);
}

const uint8_t *otaloop_flash_view(uint32_t device, uint32_t *size) {
    if (device == OTALOOP_INTERNAL) {
        *size = OTALOOP_FLASH_SIZE;
        return (const uint8_t *)(uintptr_t)KSEG0;
    }
    *size = R->ext_size;
    return R->ext;
}

void otaloop_console_write(const void *data, size_t length) {
    if (length) send_msg(OTALOOP_MSG_CONSOLE, 0, 0, data, (uint32_t)length);
}

void otaloop_software_reset(void) { finish(OTALOOP_END_RESET, 0, "software reset"); }

/* A READ the host answered ahead, if it is exactly this call: the bytes go to the firmware and the host
 * is told to carry the read out (see OTALOOP_REPLY_AHEAD). Any other call drops the answer. */
static bool take_ahead(uint32_t opcode, uint32_t argument, const void *payload, uint32_t length, void *reply,
                       uint32_t reply_capacity, uint32_t *reply_length) {
    if (!R->ahead_valid) return false;
    R->ahead_valid = 0;
    uint32_t want;
    if (opcode != OTALOOP_FS_READ || argument != R->ahead_handle || length != sizeof want) return false;
    __builtin_memcpy(&want, payload, sizeof want);
    if (want != R->ahead_want || R->ahead_got > reply_capacity) return false;
    send_msg(OTALOOP_MSG_FS, OTALOOP_FS_READ_TAKEN, argument, payload, length);
    if (R->ahead_got) memcpy(reply, R->ahead, R->ahead_got);
    if (reply_length) *reply_length = R->ahead_got;
    R->host_state = R->ahead_state;
    return true;
}

int32_t otaloop_fs_call(uint32_t opcode, uint32_t argument, const void *payload, uint32_t length, void *reply,
                        uint32_t reply_capacity, uint32_t *reply_length) {
    struct {
        int32_t result;
        uint32_t length;
        uint64_t host_state;
    } head;
    if (take_ahead(opcode, argument, payload, length, reply, reply_capacity, reply_length))
        return (int32_t)R->ahead_got;
    send_msg(OTALOOP_MSG_FS, opcode, argument, payload, length);
    flush_out();
    read_all(R->in_fd, &head, 16);
    if (head.length == OTALOOP_ANSWER_CUT) power_cut();
    if (head.host_state == 0) {
        R->remote_calls++; /* the call changed flash where the runner does not see it */
        memset(R->shadowed[OTALOOP_EXTERNAL], 0, sizeof R->shadowed[OTALOOP_EXTERNAL]);
    } else
        R->host_state = head.host_state;
    uint32_t n = head.length & ~OTALOOP_REPLY_AHEAD;
    if (n > reply_capacity) _exit(73);
    if (n) read_all(R->in_fd, reply, n);
    if (reply_length) *reply_length = n;
    if (head.length & OTALOOP_REPLY_AHEAD) {
        uint8_t ahead_head[20]; /* handle, bytes asked, bytes read, host state after the read */
        read_all(R->in_fd, ahead_head, sizeof ahead_head);
        __builtin_memcpy(&R->ahead_handle, ahead_head, 4);
        __builtin_memcpy(&R->ahead_want, ahead_head + 4, 4);
        __builtin_memcpy(&R->ahead_got, ahead_head + 8, 4);
        __builtin_memcpy(&R->ahead_state, ahead_head + 12, 8);
        if (R->ahead_got > OTALOOP_AHEAD_MAX) _exit(73);
        if (R->ahead_got) read_all(R->in_fd, R->ahead, R->ahead_got);
        R->ahead_valid = 1;
    }
    return head.result;
}

/* ------------------------------------------------------------------------------ faults and watchdog */
/* A fault at addr is the first touch of a flash block without access: report it, make it readable. */
static bool open_block(uintptr_t addr) {
    uint32_t device, region;
    uintptr_t base;
    if (addr >= KSEG0 && addr < (uintptr_t)KSEG0 + OTALOOP_FLASH_SIZE) {
        device = OTALOOP_INTERNAL, region = 0, base = KSEG0;
    } else if (addr >= KSEG1 && addr < (uintptr_t)KSEG1 + OTALOOP_FLASH_SIZE) {
        device = OTALOOP_INTERNAL, region = 1, base = KSEG1;
    } else if (R->ext != NULL && addr >= (uintptr_t)R->ext && addr < (uintptr_t)R->ext + R->ext_size) {
        device = OTALOOP_EXTERNAL, region = 2, base = (uintptr_t)R->ext;
    } else {
        return false;
    }
    uint32_t block = (uint32_t)((addr - base) / BLOCK);
    if (block >= MAX_BLOCKS) return false;
    if (R->opened[region][block]) return false; /* readable already: a real fault */
    R->opened[region][block] = 1;
    uint32_t address = block * BLOCK + (device == OTALOOP_INTERNAL ? OTALOOP_FLASH_PHYS : 0u);
    send_msg(OTALOOP_MSG_TOUCH, device, address, NULL, 0);
    if (R->shadowed[device][block]) { /* this run changed it: it reads its own copy (see show_shadow) */
        show_shadow(region, device, block);
        return true;
    }
    if (mprotect((void *)(base + (uintptr_t)block * BLOCK), BLOCK, PROT_READ) != 0) _exit(79);
    return true;
}

static void on_fault(int sig, siginfo_t *info, void *context) {
    ucontext_t *uc = context;
    uintptr_t pc;
#if defined(__x86_64__)
    pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__i386__)
    pc = (uintptr_t)uc->uc_mcontext.gregs[REG_EIP];
#else
    pc = 0;
#endif
    uintptr_t addr = (uintptr_t)info->si_addr;
    char reason[160];
    if (pc == addr && sig == SIGSEGV) {
        finish(OTALOOP_END_JUMP, (uint32_t)addr, "jump");
    }
    if (sig == SIGSEGV && open_block(addr)) return; /* the access is retried on the readable block */
    snprintf(reason, sizeof reason,
             "data access fault at 0x%08lX (a bus error exception on the part; the general exception handler "
             "loops for ever)",
             (unsigned long)addr);
    finish(OTALOOP_END_STUCK, (uint32_t)addr, reason);
}

/* The CPU-time budget of one main-loop pass, without a system call per pass: a periodic CPU-time tick
 * counts up, each pass start sets the count back to zero (a plain store), and the tick that finds the
 * count past the budget ends the run. The n-th tick after a pass started comes more than (n-1) ticks of
 * CPU time after it, so a pass is ended only once it has run longer than the budget (and at most one tick
 * after that). */
#define WATCHDOG_TICK_MS 50u
static void on_watchdog(int sig) {
    (void)sig;
    if (++R->pass_ticks <= R->cpu_budget_s * (1000u / WATCHDOG_TICK_MS)) return;
    char reason[160];
    snprintf(reason, sizeof reason,
             "main-loop pass %lu did not return within %u s of CPU time: the code loops inside one call",
             (unsigned long)R->pass, R->cpu_budget_s);
    finish(OTALOOP_END_STUCK, 0, reason);
}

/* The firmware ends by a signal of its own (abort, a division by zero): the messages before it still
 * reach the runner, then the signal ends the process as it would have (the handler is reset). */
static void on_fatal(int sig) {
    if (R->out_fd >= 0) flush_out();
    raise(sig);
}
/* A sanitizer's report ends the process through its own exit: the messages before it reach the runner
 * first. Weak: the function exists only in a sanitizer build. */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));
static void flush_at_death(void) {
    if (R->out_fd >= 0) flush_out();
}

static void arm_watchdog(void) {
    struct itimerval t = {{0, WATCHDOG_TICK_MS * 1000}, {0, WATCHDOG_TICK_MS * 1000}};
    R->pass_ticks = 0;
    setitimer(ITIMER_VIRTUAL, &t, NULL);
}

/* ------------------------------------------------------------------------------------ cycle search */
/* The program's writable RAM as a sum of per-8-byte-word hashes (each word's hash depends on its place
 * and its value). A pass changes few words, so each pass compares RAM with a copy of it, chunk by chunk,
 * and for each word that differs takes the old word's hash out of the sum and adds the new one's: the
 * sum always equals the hash of the whole RAM, at a cost that follows what changed. */
#define RAM_CHUNK 256u
static uint64_t word_hash(uint32_t word, uint64_t value) {
    uint64_t z = value + 0x9e3779b97f4a7c15ull * ((uint64_t)word + 1u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* True when a chunk of RAM equals its copy: most chunks do, every pass, so this is the loop detector's
 * hot path. On x86 it compares 64 bytes per step with SSE2 (every x86-64 CPU has it, also in a 32-bit
 * process); elsewhere word by word. Intrinsics, not memcmp, for the reason given below. */
#if defined(__i386__) || defined(__x86_64__)
#include <immintrin.h>
/* With AVX2 (checked once at start-up), 64 bytes in two steps instead of four. */
__attribute__((target("avx2"))) static bool same_chunk_avx2(const uint8_t *copy, const uint8_t *p, uint32_t len) {
    uint32_t i = 0;
    for (; i + 64 <= len; i += 64) {
        __m256i d0 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)(p + i)),
                                      _mm256_loadu_si256((const __m256i *)(const void *)(copy + i)));
        __m256i d1 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)(p + i + 32)),
                                      _mm256_loadu_si256((const __m256i *)(const void *)(copy + i + 32)));
        if (!_mm256_testz_si256(_mm256_or_si256(d0, d1), _mm256_or_si256(d0, d1))) return false;
    }
    for (; i < len; i++)
        if (copy[i] != p[i]) return false;
    return true;
}
static int have_avx2; /* set in main(), before any firmware code runs, and never again */
__attribute__((target("sse2"))) static bool same_chunk(const uint8_t *copy, const uint8_t *p, uint32_t len) {
    if (have_avx2) return same_chunk_avx2(copy, p, len);
    uint32_t i = 0;
    for (; i + 64 <= len; i += 64) {
        __m128i d0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(p + i)),
                                   _mm_loadu_si128((const __m128i *)(const void *)(copy + i)));
        __m128i d1 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(p + i + 16)),
                                   _mm_loadu_si128((const __m128i *)(const void *)(copy + i + 16)));
        __m128i d2 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(p + i + 32)),
                                   _mm_loadu_si128((const __m128i *)(const void *)(copy + i + 32)));
        __m128i d3 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(p + i + 48)),
                                   _mm_loadu_si128((const __m128i *)(const void *)(copy + i + 48)));
        __m128i any = _mm_or_si128(_mm_or_si128(d0, d1), _mm_or_si128(d2, d3));
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(any, _mm_setzero_si128())) != 0xFFFF) return false;
    }
    for (; i < len; i++)
        if (copy[i] != p[i]) return false;
    return true;
}
#else
static bool same_chunk(const uint8_t *copy, const uint8_t *p, uint32_t len) {
    (void)copy, (void)p, (void)len;
    return false; /* refresh_chunk compares */
}
#endif

/* Compare a chunk of RAM with its copy and refresh the copy, moving the RAM hash by each word that
 * changed. ``word`` is the number of the chunk's first word (8 bytes); a last partial word counts as
 * its bytes followed by zeros. Word by word, not with memcmp/memcpy: a sanitizer build's interceptors
 * would check those calls against the redzones between globals, which the RAM hash covers on purpose
 * (the shim is not instrumented). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
static void refresh_chunk(uint8_t *copy, const uint8_t *p, uint32_t len, uint32_t word) {
    if (R->ram_ready && same_chunk(copy, p, len)) return;
    uint32_t i = 0;
    for (; i + 8 <= len; i += 8, word++) {
        uint64_t w, c;
        __builtin_memcpy(&w, p + i, 8);
        __builtin_memcpy(&c, copy + i, 8);
        if (!R->ram_ready) {
            R->ram_sum += word_hash(word, w);
            __builtin_memcpy(copy + i, &w, 8);
        } else if (w != c) {
            R->ram_sum += word_hash(word, w) - word_hash(word, c);
            __builtin_memcpy(copy + i, &w, 8);
        }
    }
    if (i < len) {
        uint64_t w = 0, c = 0;
        for (uint32_t k = 0; i + k < len; k++) {
            w |= (uint64_t)p[i + k] << (8 * k);
            c |= (uint64_t)copy[i + k] << (8 * k);
            copy[i + k] = p[i + k];
        }
        if (!R->ram_ready) R->ram_sum += word_hash(word, w);
        else if (w != c) R->ram_sum += word_hash(word, w) - word_hash(word, c);
    }
}

/* Chunks c, c+1, ... over [p, end), each refreshed. Returns the next chunk number. */
static uint32_t hash_segment(uint32_t c, const uint8_t *p, const uint8_t *end) {
    for (; p < end; p += RAM_CHUNK, c++) {
        uint32_t len = (uint32_t)(end - p) < RAM_CHUNK ? (uint32_t)(end - p) : RAM_CHUNK;
        refresh_chunk(R->ram_copy + (size_t)c * RAM_CHUNK, p, len, c * (RAM_CHUNK / 8u));
    }
    return c;
}

/* The RAM hash, without a coverage build's gcov counters (they change on every pass). */
static uint64_t ram_hash(void) {
    const uint8_t *start = (const uint8_t *)__data_start, *end = (const uint8_t *)_end;
    const uint8_t *skip = (const uint8_t *)__start_otaloop_gcov, *resume = (const uint8_t *)__stop_otaloop_gcov;
    if (skip && resume && start <= skip && skip <= resume && resume <= end)
        hash_segment(hash_segment(0, start, skip), resume, end);
    else
        hash_segment(0, start, end);
    R->ram_ready = 1;
    return R->ram_sum;
}

#ifdef OTALOOP_RAM_DIFF
static void ram_diff(void) {
    static uint8_t *ram_copy;
    size_t n = (size_t)(_end - __data_start);
    if (ram_copy == NULL) ram_copy = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (R->pass == 2000) memcpy(ram_copy, __data_start, n);
    if (R->pass == 2001)
        for (size_t i = 0; i < n; i++)
            if (ram_copy[i] != (uint8_t)__data_start[i]) fprintf(stdout, "ramdiff %zx\n", i);
}
#endif

static void after_pass(void) {
#ifdef OTALOOP_RAM_DIFF
    ram_diff();
#endif
    if (R->cycle_end) {
        if (R->pass >= R->cycle_end) {
            char reason[200];
            snprintf(reason, sizeof reason,
                     "the main loop repeats a cycle of %lu pass(es) (same RAM, same flash): it loops for ever",
                     (unsigned long)R->cycle_len);
            finish(OTALOOP_END_STUCK, 0, reason);
        }
        return;
    }
    if (R->ops != R->ops_at_pass_start || R->remote_calls != R->remote_at_pass_start) R->last_op_pass = R->pass;
    if (R->pass - R->last_op_pass >= QUIET_PASSES) {
        char reason[200];
        snprintf(reason, sizeof reason,
                 "no flash operation for %u main-loop passes and no repeated state: a loop for ever whose RAM keeps "
                 "changing",
                 QUIET_PASSES);
        finish(OTALOOP_END_STUCK, 0, reason);
    }
    if (R->remote_calls != R->remote_at_pass_start) {
        R->seen_count = 0; /* flash may have changed unseen: earlier states are not comparable */
        memset(R->seen_pass, 0, sizeof R->seen_pass);
        return;
    }
    if (R->pass - R->last_op_pass > DENSE_PASSES && R->pass % SPARSE_EVERY != 0) return;
    uint64_t key = ram_hash() ^ (R->flash_hash * 0x9e3779b97f4a7c15ull) ^ (R->host_state * 0xc2b2ae3d27d4eb4full);
    if (key == 0) key = 1;
    uint32_t slot = (uint32_t)(key ^ (key >> 32)) & (SEEN_SLOTS - 1u);
    while (R->seen_pass[slot]) {
        if (R->seen_key[slot] == key) {
            R->cycle_len = R->pass - R->seen_pass[slot];
            R->cycle_end = R->seen_pass[slot] + STUCK_REPEATS * R->cycle_len;
            if (R->pass >= R->cycle_end) R->cycle_end = R->pass;
            after_pass();
            return;
        }
        slot = (slot + 1u) & (SEEN_SLOTS - 1u);
    }
    if (R->seen_count >= SEEN_SLOTS * 3u / 4u) {
        R->seen_count = 0;
        memset(R->seen_pass, 0, sizeof R->seen_pass);
        slot = (uint32_t)(key ^ (key >> 32)) & (SEEN_SLOTS - 1u);
    }
    R->seen_key[slot] = key;
    R->seen_pass[slot] = R->pass;
    R->seen_count++;
}

/* ------------------------------------------------------------------------------------------- main */
static void *map_at(uintptr_t where, int fd, size_t size) {
    void *p = mmap((void *)where, size, PROT_NONE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
    if (p == MAP_FAILED || (uintptr_t)p != where) {
        fprintf(stderr, "otaloop runner: cannot map flash at 0x%08lX: %s\n", (unsigned long)where, strerror(errno));
        _exit(74);
    }
#ifdef OTALOOP_MEMCHECK
    /* The first touch of a block is a fault the handler answers (it opens the block): not an error. */
    VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE(p, size);
#endif
    return p;
}

#ifdef OTALOOP_MEMCHECK
/* Under valgrind a read of program flash through KSEG0 that faults and runs again after the handler
 * opened its block did not always read the block's bytes (a digest over freshly programmed flash came
 * out wrong), so a memcheck build opens every KSEG0 and external block at the start of the run,
 * reporting each as read (the verdict cache then keys a memcheck run on all of them: fewer hits, never a
 * wrong one), and waits for each flash operation instead of posting it, so no block is ever shut. KSEG1
 * stays lazy: valgrind executes any readable page on x86, so the jump into flash must still fault there
 * (boot control is read through KSEG1, the application's blocks are not). */
static void open_all_blocks(void) {
    for (uint32_t b = 0; b < OTALOOP_FLASH_SIZE / BLOCK && b < MAX_BLOCKS; b++) {
        open_block((uintptr_t)KSEG0 + (uintptr_t)b * BLOCK);
    }
    for (uint32_t b = 0; R->ext != NULL && b < R->ext_size / BLOCK && b < MAX_BLOCKS; b++)
        open_block((uintptr_t)R->ext + (uintptr_t)b * BLOCK);
}
#endif

/* One power-up: the firmware's main(). */
__attribute__((noreturn)) static void run(void) {
#ifdef OTALOOP_MEMCHECK
    open_all_blocks();
#endif
    arm_watchdog();
    SYS_Initialize(NULL);
    for (;;) {
        R->pass++;
        if (R->pass > R->max_passes) {
            char reason[120];
            snprintf(reason, sizeof reason, "no decision after %lu main-loop passes", (unsigned long)R->max_passes);
            finish(OTALOOP_END_STUCK, 0, reason);
        }
        R->ops_at_pass_start = R->ops;
        R->remote_at_pass_start = R->remote_calls;
        R->pass_ticks = 0; /* the watchdog's count starts again (see on_watchdog) */
        SYS_Tasks();
        after_pass();
    }
}

/* The fork server keeps a child forked ahead, waiting for its go byte, and announces it to the runner at
 * once, unasked: a record (int32 SERVER_READY, int32 pid) carrying the runner's ends of its pipes (to the
 * child, from the child, its stderr), so a boot finds its child waiting on the socket. The child starts
 * the firmware when the go byte arrives (the runner sends it once the boot's flash is in the shared
 * memory). The server then waits for the oldest announced child to end and reports its wait status
 * (SERVER_STATUS, status), with the next child already forked and announced; children are used, and
 * their statuses come, in the order they were announced. A failed fork is announced as SERVER_FAILED
 * (-errno) in that child's place and tried again after a pause. */
#define SERVER_READY 1
#define SERVER_STATUS 2
#define SERVER_FAILED 3
struct ready {
    pid_t pid;
    int to_child, from_child, err;
};

static int prefork(int sock, struct ready *next) {
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) != 0) return -errno;
    if (pipe2(out, O_CLOEXEC) != 0) {
        int e = errno;
        close(in[0]), close(in[1]);
        return -e;
    }
#ifdef F_SETPIPE_SZ
    (void)fcntl(out[1], F_SETPIPE_SZ, 1 << 20); /* a boot's messages fit: the child seldom waits for the runner */
#endif
    if (pipe2(err, O_CLOEXEC) != 0) {
        int e = errno;
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        return -e;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(sock);
        if (dup2(err[1], 2) < 0) _exit(80);
        R->in_fd = dup(in[0]);
        R->out_fd = dup(out[1]);
        int fds[6] = {in[0], in[1], out[0], out[1], err[0], err[1]};
        for (int i = 0; i < 6; i++) close(fds[i]);
        own_shadows();
        uint8_t go;
        read_all(R->in_fd, &go, 1); /* the runner closed our pipe unused: _exit inside */
        run();
    }
    int e = errno;
    close(in[0]), close(out[1]), close(err[1]);
    if (pid < 0) {
        close(in[1]), close(out[0]), close(err[0]);
        return -e;
    }
    next->pid = pid, next->to_child = in[1], next->from_child = out[0], next->err = err[0];
    return 0;
}

static void server_record(int sock, int32_t kind, int32_t value) {
    int32_t record[2] = {kind, value};
    for (size_t done = 0; done < sizeof record;) {
        ssize_t n = send(sock, (char *)record + done, sizeof record - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) _exit(0); /* the runner has gone: no more boots */
        done += (size_t)n;
    }
}

/* Fork the next child and announce it (or the failure); true when there is a child to wait for. */
static bool announce(int sock, struct ready *next) {
    int failed = prefork(sock, next);
    if (failed) {
        server_record(sock, SERVER_FAILED, failed);
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
        return false;
    }
    int32_t record[2] = {SERVER_READY, (int32_t)next->pid};
    int fds[3] = {next->to_child, next->from_child, next->err};
    char control[CMSG_SPACE(sizeof fds)];
    memset(control, 0, sizeof control);
    struct iovec iov = {.iov_base = record, .iov_len = sizeof record};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(c), fds, sizeof fds);
    ssize_t sent;
    while ((sent = sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0)
        if (errno != EINTR) _exit(0); /* the runner has gone: no more boots */
    if (sent != (ssize_t)sizeof record) _exit(78); /* eight bytes on a Unix stream socket go at once */
    for (int i = 0; i < 3; i++) close(fds[i]);
    return true;
}

__attribute__((noreturn)) static void serve(int sock) {
    struct ready oldest, next;
    bool waiting = announce(sock, &oldest);
    for (;;) {
        bool ahead = announce(sock, &next);
        if (waiting) {
            int status = 0;
            while (waitpid(oldest.pid, &status, 0) < 0 && errno == EINTR) {
            }
            server_record(sock, SERVER_STATUS, status);
        }
        oldest = next;
        waiting = ahead;
    }
}


int main(int argc, char **argv) {
    int sock = -1;
#ifdef OTALOOP_MEMCHECK
    otaloop_memcheck_startup();
#endif
    if (argc > 1 && strcmp(argv[1], "--serve") == 0) {
        argv++, argc--;
        sock = argc > 1 ? atoi(argv[1]) : -1;
    }
    if (argc < 7) {
        fprintf(stderr,
                "usage: %s IN_FD OUT_FD INTERNAL_FD EXTERNAL_FD EXTERNAL_SIZE MAX_PASSES [CPU_S]\n"
                "       %s --serve SOCKET_FD - INTERNAL_FD EXTERNAL_FD EXTERNAL_SIZE MAX_PASSES [CPU_S]\n"
                "(started by otaloop's native bootloader runner, not by hand)\n",
                argv[0], argv[0]);
        return 64;
    }
    R = mmap(NULL, sizeof *R, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (R == MAP_FAILED) return 75;
    R->in_fd = sock >= 0 ? -1 : atoi(argv[1]);
    R->out_fd = sock >= 0 ? -1 : atoi(argv[2]);
    int int_fd = atoi(argv[3]);
    int ext_fd = atoi(argv[4]);
    R->ext_size = (uint32_t)strtoul(argv[5], NULL, 0);
    R->max_passes = strtoull(argv[6], NULL, 0);
    R->cpu_budget_s = argc > 7 ? (uint32_t)strtoul(argv[7], NULL, 0) : 2u;
    if (R->cpu_budget_s == 0) R->cpu_budget_s = 2u;

#if defined(__i386__) || defined(__x86_64__)
    __builtin_cpu_init();
    have_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
#endif
    map_at(KSEG0, int_fd, OTALOOP_FLASH_SIZE);
    map_at(KSEG1, int_fd, OTALOOP_FLASH_SIZE);
    if (ext_fd >= 0 && R->ext_size) {
        if (R->ext_size > MAX_BLOCKS * BLOCK) return 76;
        void *p = mmap(NULL, R->ext_size, PROT_NONE, MAP_SHARED, ext_fd, 0);
        if (p == MAP_FAILED) return 76;
        R->ext = p;
#ifdef OTALOOP_MEMCHECK
        VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE(p, R->ext_size);
#endif
    }
    size_t ram = (size_t)(_end - __data_start);
    R->ram_chunks = (uint32_t)(ram / RAM_CHUNK + 2u); /* two segments when the gcov counters are cut out */
    R->ram_copy = mmap(NULL, (size_t)R->ram_chunks * RAM_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (R->ram_copy == MAP_FAILED) return 75;
    for (uint32_t d = 0; d < 2; d++) {
        size_t n = device_size(d) ? device_size(d) : BLOCK;
        void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return 75;
        R->shadow[d] = p;
    }

    stack_t ss = {.ss_sp = R->altstack, .ss_size = sizeof R->altstack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    struct sigaction wd;
    memset(&wd, 0, sizeof wd);
    wd.sa_handler = on_watchdog;
    wd.sa_flags = SA_ONSTACK | SA_RESTART;
    sigaction(SIGVTALRM, &wd, NULL);
    struct sigaction fatal;
    memset(&fatal, 0, sizeof fatal);
    fatal.sa_handler = on_fatal;
    fatal.sa_flags = SA_ONSTACK | SA_RESETHAND;
    int fatal_signals[] = {SIGABRT, SIGFPE, SIGILL, SIGTRAP, SIGSYS};
    for (unsigned i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++) sigaction(fatal_signals[i], &fatal, NULL);
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(flush_at_death);

    if (!otaloop_console_as_stdio()) return 77;

    if (sock >= 0) serve(sock);
    own_shadows();
    run();
}
