/* otaloop native shim layer: the services an application helper gives the user's application C code.
 *
 * An application build sees this header and otaloop_host.h first (gcc -include). The helper
 * (otaloop_app_runner.c) runs the application's SYS_Initialize() and SYS_Tasks() for as long as the
 * application runs on the virtual board; between two main-loop passes the host advances the board's
 * virtual clock and hands over what arrived: console bytes, SWITCH1, the network's state.
 * Flash operations, console output and SYS_FS calls go to the host as for a bootloader helper.
 * Sockets are the host's own, behind the board's network policy (otaloop_net.c): in loopback mode
 * only 127.0.0.0/8 and localhost are reachable, checked before any DNS lookup or connect.
 *
 * It is otaloop's own code; it contains no Harmony source.
 */
#ifndef OTALOOP_APP_H
#define OTALOOP_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the running image's app descriptor says (the board hands it to the helper at the jump). */
typedef struct {
    uint32_t version;
    const char *manifest_url;
    bool periodic_check;
    uint32_t interval_s;
    bool auto_update;
    bool autoreset;
    uint32_t num_images;
    uint32_t cmd_max_length;
} OTALOOP_APP_INFO;
const OTALOOP_APP_INFO *otaloop_app_info(void);
uint32_t otaloop_app_version(void);

/* Board time: microseconds and milliseconds since the board was made (the virtual clock). */
uint64_t otaloop_time_us(void);
uint32_t otaloop_time_ms(void);
/* SWITCH1 held down now (the Curiosity board's button; its pin reads 0 when pressed). */
bool otaloop_switch_pressed(void);
/* The Wi-Fi link is up and the board has an IP address. */
bool otaloop_network_up(void);
/* Console bytes typed on UART1 and not yet read; returns how many were copied. */
size_t otaloop_uart_read(void *buffer, size_t length);
/* How many typed bytes wait to be read. */
size_t otaloop_uart_pending(void);
/* One flash read, of internal (physical addresses) or external flash (offsets), through the host. */
void otaloop_flash_read(uint32_t device, uint32_t address, void *buffer, uint32_t length);
/* The pass did something worth running the next one at once (output and files mark it themselves). */
void otaloop_mark_active(void);
/* The pass waits on socket fd -- for data, or with writable set for a connect to finish: the helper polls it
 * briefly before the next tick. */
void otaloop_wait_socket(int fd, bool writable);

/* Sockets behind the board's network policy (non-blocking TCP). -1 with errno on failure; a host the
 * loopback-only board may not reach fails with EHOSTUNREACH and no packet leaves the host. */
int otaloop_tcp_connect(const char *host, uint16_t port);
/* 1 connected, 0 still connecting, -1 failed. */
int otaloop_tcp_connected(int fd);
/* Bytes sent or received; 0 from recv means the peer closed; -1 with errno EAGAIN means no data yet. */
long otaloop_tcp_send(int fd, const void *data, size_t length);
long otaloop_tcp_recv(int fd, void *buffer, size_t length);
void otaloop_tcp_close(int fd);
/* Whether the board's policy lets a connection to host (a name or a dotted address) go out. */
bool otaloop_host_allowed(const char *host);

#endif
