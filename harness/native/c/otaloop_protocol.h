/* otaloop native shim layer: the wire protocol between a helper process and the host, defined once.
 *
 * The helper (otaloop_runner.c or otaloop_app_runner.c, otaloop_sys_fs_remote.c) writes messages of a
 * 16-byte header -- four little-endian uint32: kind, a, b, payload length -- followed by the payload.
 * A bootloader helper's flash operations are posted (plain and sanitizer builds): the host carries them
 * out in order and does not answer (the helper reads its own copy of the blocks it changed). A coverage
 * build's flash operations stay synchronous (answered with one uint32 0, or ANSWER_CUT at a power cut,
 * so the helper can write its counts). The host answers a
 * bootloader helper's file calls with int32 result, uint32 length, uint64 host state and the reply bytes:
 * the host state is 0 when the call changed flash; otherwise a digest of the host's file-system state
 * (open files and their positions), which the loop detector counts as machine state; after a SEEK the
 * reply may carry the READ that usually follows, answered ahead (OTALOOP_REPLY_AHEAD). An application
 * helper's file calls are answered with int32 result, uint32 length and the reply bytes.
 * The host half (harness/native/protocol.py) reads the numbers below from this file, so a code is
 * written in one place only. Only lines of the form "#define OTALOOP_<NAME> <number>u" are protocol.
 *
 * It is otaloop's own code; it contains no Harmony source.
 */
#ifndef OTALOOP_PROTOCOL_H
#define OTALOOP_PROTOCOL_H

/* Message kinds, helper to host. */
#define OTALOOP_MSG_CONSOLE 1u /* payload: console bytes */
#define OTALOOP_MSG_ERASE 2u   /* a: device | unit << 8, b: address */
#define OTALOOP_MSG_PROGRAM 3u /* a: device, b: address, payload: the bytes */
#define OTALOOP_MSG_FS 4u      /* a: file opcode, b: argument, payload: the request */
#define OTALOOP_MSG_END 5u     /* a: how the run ended, b: address, payload: uint32 passes + reason */
#define OTALOOP_MSG_ARCS 10u   /* coverage builds, before the end: a: counters, payload: bitmap of those run */

/* The host's answer to a flash operation or file call when the power is cut there (coverage builds:
 * the helper writes its counts and exits; other builds are killed without an answer). */
#define OTALOOP_ANSWER_CUT 0xFFFFFFFFu

/* Application helpers only (otaloop_app_runner.c). */
#define OTALOOP_MSG_PASS 6u    /* a: pass flags below, b: ticks run since the last GO; the host answers with GO */
#define OTALOOP_MSG_BLOCKED 7u /* payload: a host the loopback-only policy refused (no answer) */
#define OTALOOP_MSG_READ 8u    /* a: device, b: address, payload: uint32 length; answer: the bytes */
#define OTALOOP_MSG_TIME 9u    /* a: ticks run since the last GO, sent before a pass's first message (no answer) */

/* Flags of a main-loop pass (a of OTALOOP_MSG_PASS). */
#define OTALOOP_PASS_ACTIVE 1u   /* the pass did something: printed, touched flash or files, moved socket data */
#define OTALOOP_PASS_NET_WAIT 2u /* the pass waited on a socket that stayed silent */

/* The GO record the host answers a pass with (and sends once before the first pass): uint64 board time
 * since the jump in microseconds, uint64 microseconds the helper may run idle passes on its own (one 1 ms
 * tick each), uint32 SWITCH1 pressed, uint32 network up, uint32 length of console bytes that follow. */
#define OTALOOP_GO_SIZE 28u
#define OTALOOP_TICK_US 1000u

/* Bootloader helpers only (otaloop_runner.c). */
#define OTALOOP_MSG_TOUCH 11u /* a: device, b: address of a 4 KiB block the run touched first (no answer) */

/* How a run ended (a of OTALOOP_MSG_END). */
#define OTALOOP_END_JUMP 0u
#define OTALOOP_END_RESET 1u
#define OTALOOP_END_STUCK 2u

/* Devices the host serves. */
#define OTALOOP_INTERNAL 0u
#define OTALOOP_EXTERNAL 1u

/* Erase units (the smallest: a 4 KiB NVM page or SST26 sector; a 64 KiB SST26 block; the whole chip). */
#define OTALOOP_ERASE_SMALLEST 0u
#define OTALOOP_ERASE_BLOCK 1u
#define OTALOOP_ERASE_CHIP 2u

/* File opcodes of the example build's SYS_FS (a of OTALOOP_MSG_FS). */
#define OTALOOP_FS_MOUNT 1u
#define OTALOOP_FS_FORMAT 2u
#define OTALOOP_FS_MKDIR 3u
#define OTALOOP_FS_OPEN 4u
#define OTALOOP_FS_READ 5u
#define OTALOOP_FS_WRITE 6u
#define OTALOOP_FS_SEEK 7u
#define OTALOOP_FS_SIZE 8u
#define OTALOOP_FS_TELL 9u
#define OTALOOP_FS_CLOSE 10u
#define OTALOOP_FS_REMOVE 11u
/* Bootloader helpers: the firmware made the READ answered ahead (a: the handle, payload: uint32 bytes
 * asked). The host carries it out and does not answer. */
#define OTALOOP_FS_READ_TAKEN 12u

/* Bootloader helpers: a file reply whose length has this bit set is followed by a READ answered ahead --
 * uint32 handle, uint32 bytes asked, uint32 bytes read, uint64 host state after that read, and the bytes
 * (at most OTALOOP_AHEAD_MAX). The host sends one after a SEEK, for a READ of as many bytes as the last
 * READ asked: when the firmware's next file call is exactly that READ, the helper answers it itself and
 * posts OTALOOP_FS_READ_TAKEN, so a seek and the read after it cost one round trip. The host answers
 * ahead only a read that cannot fail and cannot write (no dirty buffer or window), leaving its file and
 * volume as they were, and any other next call simply drops the answer. */
#define OTALOOP_REPLY_AHEAD 0x80000000u
#define OTALOOP_AHEAD_MAX 16384u

/* File open modes (the argument of OTALOOP_FS_OPEN): SYS_FS_FILE_OPEN_ATTRIBUTES' order. */
#define OTALOOP_OPEN_READ 0u
#define OTALOOP_OPEN_WRITE 1u
#define OTALOOP_OPEN_APPEND 2u
#define OTALOOP_OPEN_READ_PLUS 3u
#define OTALOOP_OPEN_WRITE_PLUS 4u
#define OTALOOP_OPEN_APPEND_PLUS 5u

#endif
