/* otaloop native-bootloader shim layer: the PIC32MZ W1 peripheral libraries, on the host.
 *
 * The bootloader's own code and Harmony's drivers call these plib functions; here they act on
 * otaloop's flash models instead of registers:
 *  - NVM: page erase and row / quad-word / word program are one counted flash operation each (the
 *    address is turned into its physical address as the NVM controller does); reads come from the
 *    read-only mapping of internal flash; the completion callback runs as the flash controller
 *    interrupt would, after the operation. A program outside program flash sets the error flag and
 *    writes nothing;
 *  - clocks, PMU, GPIO, BSP, SPI, EVIC, caches, the crypto engine set-up: nothing to do on the host;
 *  - UART1 writes go to the console like printf does;
 *  - what both runners share: the CPU's interrupt flag behind XC32's builtins, and stdout/stderr as
 *    unbuffered streams to the console.
 * Every plib function is weak, so a project may provide its own in an extra source file.
 * It is otaloop's own code; it contains no Harmony source.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "otaloop_host.h"

#ifdef OTALOOP_MEMCHECK
#include <unistd.h>
#include <valgrind/memcheck.h>

extern char _end[];

/* A memcheck build is static: glibc's start-up puts its thread block (TLS included) in the first brk
 * memory, which the kernel hands out zeroed and glibc counts on; memcheck takes fresh brk memory for
 * undefined. Everything brk'd before main is the C library's own: defined. Both runners call it first. */
void otaloop_memcheck_startup(void) {
    uintptr_t lo = (uintptr_t)_end, hi = (uintptr_t)sbrk(0);
    if (hi > lo && hi - lo < (64u << 20)) VALGRIND_MAKE_MEM_DEFINED((void *)lo, hi - lo);
}
#endif

#define WEAK __attribute__((weak))

volatile uint32_t SYSKEY, RSWRSTSET, RCON, PRISS, CFGCON, NVMCON, NVMKEY, NVMADDR, PRECON;
typedef struct {
    uint32_t PFMWS : 3;
    uint32_t : 1;
    uint32_t PREFEN : 2;
    uint32_t : 26;
} otaloop_precon_bits;
volatile otaloop_precon_bits PRECONbits;

uint32_t otaloop_rswrst_read(void) {
    if (RSWRSTSET & 1u) otaloop_software_reset();
    return 0;
}

/* ------------------------------------------------------------------------------------------- NVM */
typedef void (*nvm_callback)(uintptr_t context);
static nvm_callback nvm_done;
static uintptr_t nvm_context;
static uint32_t nvm_error;

#define NVM_ERROR_WRITE 0x2000u /* WRERR: the operation did not complete */

static bool nvm_in_flash(uint32_t phys, uint32_t length) {
    return phys >= OTALOOP_FLASH_PHYS && phys + length <= OTALOOP_FLASH_PHYS + OTALOOP_FLASH_SIZE;
}

static bool nvm_program(const void *data, uint32_t address, uint32_t length) {
    uint32_t phys = address & 0x1fffffffu;
    nvm_error = 0;
    if (nvm_in_flash(phys, length) && phys % length == 0) {
        otaloop_flash_program(OTALOOP_INTERNAL, phys, data, length);
    } else {
        nvm_error = NVM_ERROR_WRITE;
    }
    if (nvm_done) nvm_done(nvm_context);
    return true;
}

WEAK void NVM_Initialize(void) { nvm_error = 0; }
WEAK void NVM_CallbackRegister(nvm_callback callback, uintptr_t context) {
    nvm_done = callback;
    nvm_context = context;
}
WEAK bool NVM_Read(uint32_t *data, uint32_t length, const uint32_t address) {
    /* The plib copies from the cached address; the mapping faults past the end like the bus would. */
    uint32_t phys = address & 0x1fffffffu;
    const uint8_t *from = (const uint8_t *)(uintptr_t)(0x90000000u | phys);
    memcpy(data, from, length);
    return true;
}
WEAK bool NVM_RowWrite(uint32_t *data, uint32_t address) { return nvm_program(data, address, 1024u); }
WEAK bool NVM_QuadDoubleWordWrite(uint32_t *data, uint32_t address) { return nvm_program(data, address, 32u); }
WEAK bool NVM_SingleDoubleWordWrite(uint32_t *data, uint32_t address) { return nvm_program(data, address, 8u); }
WEAK bool NVM_PageErase(uint32_t address) {
    uint32_t phys = address & 0x1fffffffu;
    nvm_error = 0;
    if (nvm_in_flash(phys, 4096u) && phys % 4096u == 0) {
        otaloop_flash_erase(OTALOOP_INTERNAL, OTALOOP_ERASE_SMALLEST, phys);
    } else {
        nvm_error = NVM_ERROR_WRITE;
    }
    if (nvm_done) nvm_done(nvm_context);
    return true;
}
WEAK uint32_t NVM_ErrorGet(void) { return nvm_error; }
WEAK bool NVM_IsBusy(void) { return false; }
WEAK void NVM_ProgramFlashWriteProtect(uint32_t low, uint32_t high) { (void)low, (void)high; }
WEAK void NVM_ProgramFlashWriteProtectLock(void) {}

/* ---------------------------------------------------------------------------- clocks, pins, board */
WEAK void PMU_Initialize(void) {}
WEAK void CLK_Initialize(void) {}
WEAK void GPIO_Initialize(void) {}
/* Pins read 1 (pulled up, switches released) unless the helper knows better (otaloop_app_runner.c). */
WEAK uint32_t otaloop_port_read(uint32_t port) { return (void)port, 0xFFFFFFFFu; }
/* GPIO_PortRead(GPIO_PORT_A ...): the plib's ports are numbered A = 0, B = 1, C = 2, K = 3 on this part. */
WEAK uint32_t GPIO_PortRead(uint32_t port) { return otaloop_port_read(port); }
WEAK void BSP_Initialize(void) {}
WEAK void CRYPT_WCCB_Initialize(void) {}

/* ----------------------------------------------------------------------------------------- UART1 */
WEAK void UART1_Initialize(void) {}
WEAK bool UART1_Write(void *buffer, const size_t size) {
    otaloop_console_write(buffer, size);
    return true;
}
WEAK void UART1_WriteByte(int data) {
    char c = (char)data;
    otaloop_console_write(&c, 1);
}
WEAK bool UART1_TransmitterIsReady(void) { return true; }
WEAK bool UART1_TransmitComplete(void) { return true; }
WEAK bool UART1_Read(void *buffer, const size_t size) { return (void)buffer, (void)size, false; }
WEAK int UART1_ReadByte(void) { return -1; }
WEAK bool UART1_ReceiverIsReady(void) { return false; }
WEAK uint32_t UART1_ErrorGet(void) { return 0; }
WEAK bool UART1_SerialSetup(void *setup, uint32_t clock) { return (void)setup, (void)clock, true; }

/* ------------------------------------------------------------------------------------------ SPI1 */
/* The SST26 driver is replaced above the SPI bus (otaloop_sst26.c), so nothing talks SPI here. */
WEAK void SPI1_Initialize(void) {}
WEAK bool SPI1_WriteRead(void *tx, size_t txSize, void *rx, size_t rxSize) {
    return (void)tx, (void)txSize, (void)rx, (void)rxSize, false;
}
WEAK bool SPI1_Write(void *tx, size_t txSize) { return (void)tx, (void)txSize, false; }
WEAK bool SPI1_Read(void *rx, size_t rxSize) { return (void)rx, (void)rxSize, false; }
WEAK bool SPI1_IsBusy(void) { return false; }
WEAK bool SPI1_IsTransmitterBusy(void) { return false; }
WEAK bool SPI1_TransferSetup(void *setup, uint32_t clock) { return (void)setup, (void)clock, true; }
WEAK void SPI1_CallbackRegister(void *callback, uintptr_t context) { (void)callback, (void)context; }

/* ------------------------------------------------------------------------------------------ EVIC */
WEAK void EVIC_Initialize(void) {}
WEAK void EVIC_SourceEnable(uint32_t source) { (void)source; }
WEAK void EVIC_SourceDisable(uint32_t source) { (void)source; }
WEAK bool EVIC_SourceIsEnabled(uint32_t source) { return (void)source, false; }
WEAK bool EVIC_SourceStatusGet(uint32_t source) { return (void)source, false; }
WEAK void EVIC_SourceStatusSet(uint32_t source) { (void)source; }
WEAK void EVIC_SourceStatusClear(uint32_t source) { (void)source; }
WEAK void EVIC_INT_Enable(void) { (void)otaloop_interrupts_enable(); }
WEAK bool EVIC_INT_Disable(void) { return (otaloop_interrupts_disable() & 1u) != 0; }
WEAK void EVIC_INT_Restore(bool state) {
    if (state) (void)otaloop_interrupts_enable();
}
WEAK bool EVIC_INT_SourceDisable(uint32_t source) { return (void)source, false; }
WEAK void EVIC_INT_SourceRestore(uint32_t source, bool status) { (void)source, (void)status; }

/* ---------------------------------------------------------------------------------------- caches */
/* The host is cache-coherent: clean and invalidate have nothing to do. */
WEAK void CACHE_CacheInit(uint32_t coherency) { (void)coherency; }
WEAK void CACHE_CacheFlush(void) {}
WEAK void CACHE_DataCacheFlush(void) {}
WEAK void CACHE_InstructionCacheFlush(void) {}
WEAK void CACHE_CacheClean(uint32_t addr, size_t len) { (void)addr, (void)len; }
WEAK void CACHE_DataCacheClean(uint32_t addr, size_t len) { (void)addr, (void)len; }
WEAK void CACHE_DataCacheInvalidate(uint32_t addr, size_t len) { (void)addr, (void)len; }
WEAK void CACHE_InstructionCacheInvalidate(uint32_t addr, size_t len) { (void)addr, (void)len; }
WEAK void CACHE_CacheSync(uint32_t addr, size_t len) { (void)addr, (void)len; }
WEAK void SYS_CACHE_EnableCaches(void) {}
WEAK void SYS_CACHE_DisableCaches(void) {}
WEAK void SYS_CACHE_InvalidateDCache(void) {}
WEAK void SYS_CACHE_CleanDCache(void) {}
WEAK void SYS_CACHE_CleanInvalidateDCache(void) {}
WEAK void SYS_CACHE_InvalidateDCache_by_Addr(void *addr, int32_t size) { (void)addr, (void)size; }
WEAK void SYS_CACHE_CleanDCache_by_Addr(void *addr, int32_t size) { (void)addr, (void)size; }
WEAK void SYS_CACHE_CleanInvalidateDCache_by_Addr(void *addr, int32_t size) { (void)addr, (void)size; }

/* ------------------------------------------------------------------------------------------ I2C1 */
/* The TrustFlex build initialises the I2C bus of its ATECC608; no secure element answers on the host. */
WEAK void I2C1_Initialize(void) {}
WEAK bool I2C1_Read(uint16_t address, uint8_t *data, size_t length) { return (void)address, (void)data, (void)length, false; }
WEAK bool I2C1_Write(uint16_t address, uint8_t *data, size_t length) { return (void)address, (void)data, (void)length, false; }
WEAK bool I2C1_WriteRead(uint16_t address, uint8_t *wdata, size_t wlength, uint8_t *rdata, size_t rlength) {
    return (void)address, (void)wdata, (void)wlength, (void)rdata, (void)rlength, false;
}
WEAK bool I2C1_IsBusy(void) { return false; }
WEAK uint32_t I2C1_ErrorGet(void) { return 1u; }
WEAK void I2C1_CallbackRegister(void *callback, uintptr_t context) { (void)callback, (void)context; }
WEAK bool I2C1_TransferSetup(void *setup, uint32_t clock) { return (void)setup, (void)clock, true; }

/* ------------------------------------------------- the CPU's interrupt flag and the console streams */
/* Shared by both runners (not weak: the builtins the firmware calls end here). */
uint32_t otaloop_interrupts_on;
uint32_t otaloop_interrupts_disable(void) {
    uint32_t was = otaloop_interrupts_on;
    otaloop_interrupts_on = 0;
    return was;
}
uint32_t otaloop_interrupts_enable(void) {
    uint32_t was = otaloop_interrupts_on;
    otaloop_interrupts_on = 1;
    return was;
}

static ssize_t console_cookie_write(void *cookie, const char *data, size_t length) {
    (void)cookie;
    otaloop_console_write(data, length);
    return (ssize_t)length;
}

int otaloop_console_as_stdio(void) {
    cookie_io_functions_t io = {.read = NULL, .write = console_cookie_write, .seek = NULL, .close = NULL};
    FILE *console = fopencookie(NULL, "w", io);
    if (console == NULL) return 0;
    setvbuf(console, NULL, _IONBF, 0);
    stdout = console;
    stderr = console; /* XC32's stderr is the same UART */
    return 1;
}
