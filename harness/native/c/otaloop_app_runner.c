/* otaloop native shim layer: the host process that runs the user's application for one run.
 *
 * One process is one run of the application: from the bootloader's jump to the next reset or power cut
 * (the host kills it then: RAM is lost, the C code stops where it is). main() reads the app descriptor's
 * values from its arguments, waits for the host's first GO record and calls the application's
 * SYS_Initialize() and SYS_Tasks() for ever, as Harmony's main.c does. After each main-loop pass it tells
 * the host whether the pass did anything and waits for the next GO record: the board's new virtual time,
 * SWITCH1, the network's state and the console bytes typed meanwhile. So the host decides how far board
 * time moves per pass (one tick while the application is busy, more while it only polls), and the
 * application's clock is the board's.
 *
 * Flash operations, console output and SYS_FS calls are messages as for a bootloader helper; a power cut
 * planned at a flash operation is the host killing this process inside the call. Sockets are the host's
 * own, behind the board's network policy (otaloop_net.c). A software reset ends the run.
 *
 * Coverage builds (OTALOOP_COVERAGE) write their gcov counts (__gcov_dump) when the run ends: at the
 * software reset, and when the host closes the pipe while this process waits for an answer (a power cut
 * at a flash operation, a power-off or reset between passes; the host closes instead of killing such a
 * build). No line of the firmware runs after that. Sanitizer builds need nothing here: the runtime
 * reports on fd 2, which the host reads.
 *
 * It is otaloop's own code; it contains no Harmony source.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "otaloop_app.h"
#include "otaloop_host.h"

bool NVM_Read(uint32_t *data, uint32_t length, const uint32_t address);

void SYS_Initialize(void *data);
void SYS_Tasks(void);
void otaloop_harmony_start(void);

extern bool otaloop_network_open;

#define RX_SIZE 4096u
#define MAX_WAIT_FDS 8
/* Wall milliseconds a pass that waits on silent sockets polls them before the next tick, and how long a
 * silence lasts (wall) before the ticks run at full speed: a live server on 127.0.0.1 is never outrun, a
 * stalled one costs little wall time. */
#define NET_POLL_MS 5
#define NET_GRACE_MS 250

static struct {
    int in_fd, out_fd;
    OTALOOP_APP_INFO info;
    uint64_t now_us, budget_us, ran_us;
    uint64_t go_now_us;  /* board time of the last GO record */
    uint32_t told_ticks; /* ticks since that GO the host has been told of */
    uint64_t silent_since_ms; /* wall time of the first silent socket wait, 0: none */
    uint32_t switch_pressed, net_up;
    uint8_t rx[RX_SIZE];
    uint32_t rx_head, rx_len;
    bool active;
    struct pollfd waits[MAX_WAIT_FDS];
    int n_wait;
    uint64_t passes;
    uint32_t ext_size;
    uint8_t *internal_rw, *external_rw; /* the helper's copies of both flashes (OTALOOP_APP_FLASH_VIEWS) */
} A;

#define KSEG0 0x90000000u
#define KSEG1 0xB0000000u

#ifdef OTALOOP_COVERAGE
void __gcov_dump(void);
/* Add this run's counts to the .gcda files (gcov merges them under a file lock, so parallel helpers of
 * one build add up). */
static void coverage_flush(void) { __gcov_dump(); }
#else
static void coverage_flush(void) {}
#endif

static void write_all(const void *data, size_t length) {
    const uint8_t *p = data;
    while (length) {
        ssize_t n = write(A.out_fd, p, length);
        if (n < 0) {
            if (errno == EINTR) continue;
            _exit(70);
        }
        p += n;
        length -= (size_t)n;
    }
}

static void read_all(void *data, size_t length) {
    uint8_t *p = data;
    while (length) {
        ssize_t n = read(A.in_fd, p, length);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { /* the host went away: the board lost power (a coverage build keeps its counts) */
            coverage_flush();
            _exit(71);
        }
        p += n;
        length -= (size_t)n;
    }
}

static void send_msg(uint32_t type, uint32_t a, uint32_t b, const void *payload, uint32_t length) {
    if (type != OTALOOP_MSG_PASS) { /* the host stamps what follows with the board time of this pass */
        uint32_t ticks = (uint32_t)((A.now_us - A.go_now_us) / OTALOOP_TICK_US);
        if (ticks > A.told_ticks) {
            uint32_t time_head[4] = {OTALOOP_MSG_TIME, ticks, 0, 0};
            write_all(time_head, sizeof time_head);
            A.told_ticks = ticks;
        }
    }
    uint32_t head[4] = {type, a, b, length};
    write_all(head, sizeof head);
    if (length) write_all(payload, length);
}

static void wait_ok(void) {
    uint32_t answer = 1;
    read_all(&answer, sizeof answer);
    if (answer != 0) _exit(72);
}

static void read_go(void) {
    uint8_t go[OTALOOP_GO_SIZE];
    uint32_t n;
    read_all(go, sizeof go);
    memcpy(&A.now_us, go, 8);
    memcpy(&A.budget_us, go + 8, 8);
    memcpy(&A.switch_pressed, go + 16, 4);
    memcpy(&A.net_up, go + 20, 4);
    memcpy(&n, go + 24, 4);
    A.ran_us = 0;
    A.go_now_us = A.now_us;
    A.told_ticks = 0;
    while (n) {
        uint8_t byte;
        read_all(&byte, 1);
        n--;
        if (A.rx_len < RX_SIZE) { /* a full ring loses what arrives, as UART1's does */
            A.rx[(A.rx_head + A.rx_len) % RX_SIZE] = byte;
            A.rx_len++;
        }
    }
}

/* ------------------------------------------------------------------------------------ services */
const OTALOOP_APP_INFO *otaloop_app_info(void) { return &A.info; }
uint32_t otaloop_app_version(void) { return A.info.version; }
uint64_t otaloop_time_us(void) { return A.now_us; }
uint32_t otaloop_time_ms(void) { return (uint32_t)(A.now_us / 1000u); }
bool otaloop_switch_pressed(void) { return A.switch_pressed != 0; }
/* PORTA bit 10 is SWITCH1 (RA10 on the WFI32E Curiosity board), low while pressed; other pins read 1. */
uint32_t otaloop_port_read(uint32_t port) {
    return port == 0u && A.switch_pressed ? ~(1u << 10) : 0xFFFFFFFFu;
}
bool otaloop_network_up(void) { return A.net_up != 0; }
void otaloop_mark_active(void) { A.active = true; }

void otaloop_wait_socket(int fd, bool writable) {
    short events = writable ? POLLOUT : POLLIN;
    for (int i = 0; i < A.n_wait; i++)
        if (A.waits[i].fd == fd) {
            A.waits[i].events |= events;
            return;
        }
    if (A.n_wait < MAX_WAIT_FDS) A.waits[A.n_wait++] = (struct pollfd){.fd = fd, .events = events};
}

size_t otaloop_uart_pending(void) { return A.rx_len; }

size_t otaloop_uart_read(void *buffer, size_t length) {
    uint8_t *out = buffer;
    size_t n = 0;
    while (n < length && A.rx_len) {
        out[n++] = A.rx[A.rx_head];
        A.rx_head = (A.rx_head + 1u) % RX_SIZE;
        A.rx_len--;
    }
    if (n) A.active = true;
    return n;
}

void otaloop_report_blocked(const char *host) {
    const char *text = host ? host : "";
    send_msg(OTALOOP_MSG_BLOCKED, 0, 0, text, (uint32_t)strlen(text));
}

/* Builds that read flash through pointers (Harmony's OTA core reads boot control at 0xB0020000, the SST26
 * shim reads its view) get copies of both flashes: internal flash mapped read-only at KSEG0 and KSEG1,
 * filled from the host at start and refreshed from the host after each of the helper's own erases and
 * programs (the host's flash model decides what an operation leaves). */
static void refresh(uint32_t device, uint32_t address, uint32_t length) {
    uint8_t *copy = device == OTALOOP_INTERNAL ? A.internal_rw : A.external_rw;
    uint32_t size = device == OTALOOP_INTERNAL ? OTALOOP_FLASH_SIZE : A.ext_size;
    uint32_t off = device == OTALOOP_INTERNAL ? address - OTALOOP_FLASH_PHYS : address;
    if (copy == NULL || off >= size) return;
    uint32_t start = off & ~4095u, end = (off + length + 4095u) & ~4095u;
    if (end > size) end = size;
    otaloop_flash_read(device, device == OTALOOP_INTERNAL ? OTALOOP_FLASH_PHYS + start : start, copy + start,
                       end - start);
}

#ifdef OTALOOP_APP_FLASH_VIEWS
static uint8_t *map_flash(int fd, uint32_t size, uintptr_t at) {
    int flags = MAP_SHARED | (at ? MAP_FIXED_NOREPLACE : 0);
    void *p = mmap((void *)at, size, at ? PROT_READ : PROT_READ | PROT_WRITE, flags, fd, 0);
    if (p == MAP_FAILED || (at && (uintptr_t)p != at)) {
        fprintf(stderr, "otaloop application runner: cannot map flash at 0x%08lX\n", (unsigned long)at);
        _exit(74);
    }
    return p;
}

static void map_flash_views(void) {
    int ifd = memfd_create("otaloop-app-internal", 0), efd = memfd_create("otaloop-app-external", 0);
    if (ifd < 0 || efd < 0 || ftruncate(ifd, OTALOOP_FLASH_SIZE) || ftruncate(efd, A.ext_size)) _exit(75);
    A.internal_rw = map_flash(ifd, OTALOOP_FLASH_SIZE, 0);
    map_flash(ifd, OTALOOP_FLASH_SIZE, KSEG0);
    map_flash(ifd, OTALOOP_FLASH_SIZE, KSEG1);
    A.external_rw = map_flash(efd, A.ext_size, 0);
    for (uint32_t off = 0; off < OTALOOP_FLASH_SIZE; off += 65536u)
        otaloop_flash_read(OTALOOP_INTERNAL, OTALOOP_FLASH_PHYS + off, A.internal_rw + off, 65536u);
    for (uint32_t off = 0; off < A.ext_size; off += 65536u)
        otaloop_flash_read(OTALOOP_EXTERNAL, off, A.external_rw + off, 65536u);
}
#endif

void otaloop_flash_erase(uint32_t device, uint32_t unit, uint32_t address) {
    A.active = true;
    send_msg(OTALOOP_MSG_ERASE, device | (unit << 8), address, NULL, 0);
    wait_ok();
    uint32_t size = unit == OTALOOP_ERASE_SMALLEST ? 4096u : unit == OTALOOP_ERASE_BLOCK ? 65536u : 0xFFFFFFFFu;
    if (size == 0xFFFFFFFFu) {
        refresh(device, device == OTALOOP_INTERNAL ? OTALOOP_FLASH_PHYS : 0,
                device == OTALOOP_INTERNAL ? OTALOOP_FLASH_SIZE : A.ext_size);
    } else {
        refresh(device, address, size);
    }
}

void otaloop_flash_program(uint32_t device, uint32_t address, const void *data, uint32_t length) {
    A.active = true;
    send_msg(OTALOOP_MSG_PROGRAM, device, address, data, length);
    wait_ok();
    refresh(device, address, length);
}

void otaloop_flash_read(uint32_t device, uint32_t address, void *buffer, uint32_t length) {
    send_msg(OTALOOP_MSG_READ, device, address, &length, sizeof length);
    read_all(buffer, length);
}

const uint8_t *otaloop_flash_view(uint32_t device, uint32_t *size) {
    if (device == OTALOOP_INTERNAL) {
        *size = A.internal_rw ? OTALOOP_FLASH_SIZE : 0;
        return A.internal_rw ? (const uint8_t *)(uintptr_t)KSEG0 : NULL;
    }
    *size = A.external_rw ? A.ext_size : 0;
    return A.external_rw; /* NULL unless the build maps flash: it reads through otaloop_flash_read */
}

void otaloop_console_write(const void *data, size_t length) {
    if (length) {
        A.active = true;
        send_msg(OTALOOP_MSG_CONSOLE, 0, 0, data, (uint32_t)length);
    }
}

void otaloop_software_reset(void) {
    char text[4 + 16];
    uint32_t passes = (uint32_t)A.passes;
    memcpy(text, &passes, 4);
    memcpy(text + 4, "software reset", 14);
    coverage_flush();
    send_msg(OTALOOP_MSG_END, OTALOOP_END_RESET, 0, text, 18);
    _exit(0);
}

/* The NVM plib's read: the application's helper has no flash mapping, so it asks the host. */
bool NVM_Read(uint32_t *data, uint32_t length, const uint32_t address) {
    otaloop_flash_read(OTALOOP_INTERNAL, address & 0x1fffffffu, data, length);
    return true;
}

int32_t otaloop_fs_call(uint32_t opcode, uint32_t argument, const void *payload, uint32_t length, void *reply,
                        uint32_t reply_capacity, uint32_t *reply_length) {
    int32_t head[2];
    A.active = true;
    send_msg(OTALOOP_MSG_FS, opcode, argument, payload, length);
    read_all(head, sizeof head);
    uint32_t n = (uint32_t)head[1];
    if (n > reply_capacity) _exit(73);
    if (n) read_all(reply, n);
    if (reply_length) *reply_length = n;
    return head[0];
}

/* ---------------------------------------------------------------------------------------- the pass */
static uint64_t wall_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* Every pass is one 1 ms tick of board time, as the OTA task's vTaskDelay(1) makes it on the part. A pass
 * that did nothing the host must see runs on here, tick after tick, within the budget of the last GO record;
 * a pass that did something (or the end of the budget) goes back to the host, which moves the board's clock
 * by the ticks run and answers with the next GO record. */
static void end_pass(void) {
    uint32_t flags = 0;
    A.ran_us += OTALOOP_TICK_US;
    if (!A.active && A.n_wait) {
        uint64_t now = wall_ms();
        if (A.silent_since_ms == 0) A.silent_since_ms = now;
        int wait = now - A.silent_since_ms < NET_GRACE_MS ? NET_POLL_MS : 0;
        if (poll(A.waits, (nfds_t)A.n_wait, wait) > 0)
            A.active = true; /* data came (or a connect finished): the host sees this pass at once */
        else
            flags |= OTALOOP_PASS_NET_WAIT;
    }
    if (A.active) {
        flags |= OTALOOP_PASS_ACTIVE;
        A.silent_since_ms = 0;
    }
    A.n_wait = 0;
    if (!A.active && A.ran_us + OTALOOP_TICK_US <= A.budget_us) {
        A.now_us += OTALOOP_TICK_US; /* an idle tick: the next pass runs without asking the host */
        return;
    }
    send_msg(OTALOOP_MSG_PASS, flags, (uint32_t)(A.ran_us / OTALOOP_TICK_US), NULL, 0);
    A.active = false;
    read_go();
}

int main(int argc, char **argv) {
#ifdef OTALOOP_MEMCHECK
    otaloop_memcheck_startup();
#endif
    if (argc < 13) {
        fprintf(stderr,
                "usage: %s IN_FD OUT_FD NETWORK VERSION URL PERIODIC INTERVAL AUTO_UPDATE AUTORESET NUM_IMAGES "
                "CMD_MAX EXTERNAL_SIZE\n(started by otaloop's native application runner, not by hand)\n",
                argv[0]);
        return 64;
    }
    A.in_fd = atoi(argv[1]);
    A.out_fd = atoi(argv[2]);
    otaloop_network_open = strcmp(argv[3], "open") == 0;
    A.info.version = (uint32_t)strtoul(argv[4], NULL, 0);
    A.info.manifest_url = argv[5];
    A.info.periodic_check = atoi(argv[6]) != 0;
    A.info.interval_s = (uint32_t)strtoul(argv[7], NULL, 0);
    A.info.auto_update = atoi(argv[8]) != 0;
    A.info.autoreset = atoi(argv[9]) != 0;
    A.info.num_images = (uint32_t)strtoul(argv[10], NULL, 0);
    A.info.cmd_max_length = (uint32_t)strtoul(argv[11], NULL, 0);
    A.ext_size = (uint32_t)strtoul(argv[12], NULL, 0);

    otaloop_interrupts_on = 1; /* an application runs with interrupts on, as its start-up code leaves them */
    if (!otaloop_console_as_stdio()) return 77;

    read_go();
#ifdef OTALOOP_APP_FLASH_VIEWS
    map_flash_views();
#endif
    SYS_Initialize(NULL);
#ifdef OTALOOP_HARMONY_APP
    otaloop_harmony_start(); /* the descriptor's version, URL and options into g_SysOtaConfig */
#endif
    for (;;) {
        A.passes++;
        SYS_Tasks();
        end_pass();
    }
}
