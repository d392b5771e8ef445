/* otaloop native-bootloader shim layer: the header every compiled file sees first (gcc -include).
 *
 * It names the services the host runner gives the shims (flash operations, console bytes, the end of
 * a run) and turns XC32's MIPS builtins into host functions. It is otaloop's own code; it contains no
 * Harmony source. See docs/native-bootloader.md for the whole picture.
 */
#ifndef OTALOOP_HOST_H
#define OTALOOP_HOST_H

#include <stddef.h>
#include <stdint.h>

/* Devices, erase units and message codes: one definition, shared with the host. */
#include "otaloop_protocol.h"

/* Where internal flash (physical 0x1000_0000, 1 MiB) is mapped, read-only, in the host process. */
#define OTALOOP_FLASH_PHYS 0x10000000u
#define OTALOOP_FLASH_SIZE 0x00100000u

/* One counted flash operation, carried out by the host on its NorFlash model. A power cut planned at
 * this operation ends the process inside the call: the C code stops exactly where it is. */
void otaloop_flash_erase(uint32_t device, uint32_t unit, uint32_t address);
void otaloop_flash_program(uint32_t device, uint32_t address, const void *data, uint32_t length);
/* Read-only views of the two flashes (NULL for a device the build does not map). */
const uint8_t *otaloop_flash_view(uint32_t device, uint32_t *size);
/* Bytes the firmware sends to its console UART. */
void otaloop_console_write(const void *data, size_t length);
/* stdout and stderr (XC32's stderr is the same UART) made unbuffered streams to the console; 0 when the C
 * library cannot make one. Each runner calls it once at start. */
int otaloop_console_as_stdio(void);
#ifdef OTALOOP_MEMCHECK
/* Both runners, first thing in main: the C library's start-up memory counts as defined for memcheck. */
void otaloop_memcheck_startup(void);
#endif
/* The software reset: the run ends and the board boots again. */
void otaloop_software_reset(void) __attribute__((noreturn));
uint32_t otaloop_rswrst_read(void);
/* A remote call for the example build's SYS_FS (see otaloop_sys_fs_remote.c). */
int32_t otaloop_fs_call(uint32_t opcode, uint32_t argument, const void *payload, uint32_t length, void *reply,
                        uint32_t reply_capacity, uint32_t *reply_length);

/* Interrupt control: the host has no interrupts; completions are delivered synchronously. The flag
 * starts off (a bootloader after reset); the application runner turns it on before the application runs. */
extern uint32_t otaloop_interrupts_on;
uint32_t otaloop_interrupts_disable(void);
uint32_t otaloop_interrupts_enable(void);
#define __builtin_disable_interrupts() otaloop_interrupts_disable()
#define __builtin_enable_interrupts() otaloop_interrupts_enable()
#define __builtin_mfc0(reg, sel) 0u
#define __builtin_mtc0(reg, sel, value) ((void)(value))
#define __builtin_software_breakpoint() ((void)0)

#endif
