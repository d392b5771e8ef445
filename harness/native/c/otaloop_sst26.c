/* otaloop native-bootloader shim layer: the DRV_SST26 driver's calls, on the external flash model.
 *
 * DRV_MEMORY (Harmony's, compiled from the project) drives the SST26 through this interface. Here a
 * sector erase, a block erase, a chip erase and a page program are each one counted flash operation of
 * the runner's SST26 model, completed at once: the transfer status is COMPLETED and the event handler
 * DRV_MEMORY registered runs before the call returns, as the SPI interrupt would run after it. Reads
 * copy from the read-only mapping of the external flash. The geometry is the SST26VF032B's (or the
 * 064B's: the runner tells the size), with the start address and erase buffer size of the project's
 * configuration.h.
 * It is otaloop's own code; it includes the project's headers for the types only.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "configuration.h"
#include "definitions.h"
#include "otaloop_host.h"

#ifndef DRV_SST26_START_ADDRESS
#define DRV_SST26_START_ADDRESS 0u
#endif
#ifndef DRV_SST26_ERASE_BUFFER_SIZE
#define DRV_SST26_ERASE_BUFFER_SIZE 4096u
#endif
#define SST26_PAGE 256u

static DRV_SST26_EVENT_HANDLER sst26_handler;
static uintptr_t sst26_context;
static DRV_SST26_TRANSFER_STATUS sst26_status = DRV_SST26_TRANSFER_COMPLETED;

static void sst26_complete(DRV_SST26_TRANSFER_STATUS status) {
    sst26_status = status;
    if (sst26_handler) sst26_handler(status, sst26_context);
}

static uint32_t sst26_size(void) {
    uint32_t size = 0;
    (void)otaloop_flash_view(OTALOOP_EXTERNAL, &size);
    return size;
}

SYS_MODULE_OBJ DRV_SST26_Initialize(const SYS_MODULE_INDEX drvIndex, const SYS_MODULE_INIT *const init) {
    (void)drvIndex, (void)init;
    sst26_handler = NULL;
    sst26_status = DRV_SST26_TRANSFER_COMPLETED;
    return (SYS_MODULE_OBJ)0;
}

SYS_STATUS DRV_SST26_Status(const SYS_MODULE_INDEX drvIndex) { return (void)drvIndex, SYS_STATUS_READY; }

DRV_HANDLE DRV_SST26_Open(const SYS_MODULE_INDEX drvIndex, const DRV_IO_INTENT ioIntent) {
    (void)drvIndex, (void)ioIntent;
    return (DRV_HANDLE)0;
}

void DRV_SST26_Close(const DRV_HANDLE handle) { (void)handle; }

bool DRV_SST26_UnlockFlash(const DRV_HANDLE handle) { return (void)handle, true; }

bool DRV_SST26_ReadJedecId(const DRV_HANDLE handle, void *jedec_id) {
    uint8_t id[4] = {0xBF, 0x26, sst26_size() > 4u * 1024u * 1024u ? 0x43 : 0x42, 0};
    (void)handle;
    memcpy(jedec_id, id, 4);
    return true;
}

bool DRV_SST26_ReadStatus(const DRV_HANDLE handle, void *rx_data, uint32_t rx_data_length) {
    (void)handle;
    memset(rx_data, 0, rx_data_length);
    return true;
}

static bool sst26_erase(uint32_t unit, uint32_t address, uint32_t size) {
    if (address % size != 0 || address + size > sst26_size()) return false;
    otaloop_flash_erase(OTALOOP_EXTERNAL, unit, address);
    sst26_complete(DRV_SST26_TRANSFER_COMPLETED);
    return true;
}

bool DRV_SST26_SectorErase(const DRV_HANDLE handle, uint32_t address) {
    (void)handle;
    return sst26_erase(OTALOOP_ERASE_SMALLEST, address, 4096u);
}

bool DRV_SST26_BulkErase(const DRV_HANDLE handle, uint32_t address) {
    (void)handle;
    return sst26_erase(OTALOOP_ERASE_BLOCK, address, 65536u);
}

bool DRV_SST26_ChipErase(const DRV_HANDLE handle) {
    (void)handle;
    return sst26_erase(OTALOOP_ERASE_CHIP, 0, sst26_size());
}

bool DRV_SST26_Read(const DRV_HANDLE handle, void *rx_data, uint32_t rx_data_length, uint32_t address) {
    uint32_t size = 0;
    const uint8_t *view = otaloop_flash_view(OTALOOP_EXTERNAL, &size);
    (void)handle;
    if (view == NULL || address > size || rx_data_length > size - address) return false;
    memcpy(rx_data, view + address, rx_data_length);
    sst26_complete(DRV_SST26_TRANSFER_COMPLETED);
    return true;
}

bool DRV_SST26_PageWrite(const DRV_HANDLE handle, void *tx_data, uint32_t address) {
    (void)handle;
    if (address + SST26_PAGE > sst26_size()) return false;
    otaloop_flash_program(OTALOOP_EXTERNAL, address, tx_data, SST26_PAGE);
    sst26_complete(DRV_SST26_TRANSFER_COMPLETED);
    return true;
}

DRV_SST26_TRANSFER_STATUS DRV_SST26_TransferStatusGet(const DRV_HANDLE handle) {
    (void)handle;
    return sst26_status;
}

bool DRV_SST26_GeometryGet(const DRV_HANDLE handle, DRV_SST26_GEOMETRY *geometry) {
    uint32_t size = sst26_size();
    (void)handle;
    if (DRV_SST26_START_ADDRESS >= size) return false;
    size -= DRV_SST26_START_ADDRESS;
    geometry->read_blockSize = 1;
    geometry->read_numBlocks = size;
    geometry->numReadRegions = 1;
    geometry->write_blockSize = SST26_PAGE;
    geometry->write_numBlocks = size / SST26_PAGE;
    geometry->numWriteRegions = 1;
    geometry->erase_blockSize = DRV_SST26_ERASE_BUFFER_SIZE;
    geometry->erase_numBlocks = size / DRV_SST26_ERASE_BUFFER_SIZE;
    geometry->numEraseRegions = 1;
    geometry->blockStartAddress = DRV_SST26_START_ADDRESS;
    return true;
}

void DRV_SST26_EventHandlerSet(const DRV_HANDLE handle, const DRV_SST26_EVENT_HANDLER eventHandler,
                               const uintptr_t context) {
    (void)handle;
    sst26_handler = eventHandler;
    sst26_context = context;
}
