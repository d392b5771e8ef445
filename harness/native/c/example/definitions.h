/* otaloop example bootloader: the Harmony API names it uses, declared by otaloop (not Harmony's headers).
 *
 * The same names and meanings as Harmony v3 (SYS_FS, the NVM plib), so the example reads like a Harmony
 * bootloader; the shim layer implements them (otaloop_peripherals.c, otaloop_sys_fs_remote.c).
 */
#ifndef OTALOOP_EXAMPLE_DEFINITIONS_H
#define OTALOOP_EXAMPLE_DEFINITIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <xc.h>

/* ---- SYS_FS ---- */
typedef uintptr_t SYS_FS_HANDLE;
#define SYS_FS_HANDLE_INVALID ((SYS_FS_HANDLE)(-1))
typedef enum { SYS_FS_RES_SUCCESS = 0, SYS_FS_RES_FAILURE = -1 } SYS_FS_RESULT;
typedef enum {
    SYS_FS_FILE_OPEN_READ = 0,
    SYS_FS_FILE_OPEN_WRITE,
    SYS_FS_FILE_OPEN_APPEND,
    SYS_FS_FILE_OPEN_READ_PLUS,
    SYS_FS_FILE_OPEN_WRITE_PLUS,
    SYS_FS_FILE_OPEN_APPEND_PLUS
} SYS_FS_FILE_OPEN_ATTRIBUTES;
typedef enum { SYS_FS_SEEK_SET, SYS_FS_SEEK_CUR, SYS_FS_SEEK_END } SYS_FS_FILE_SEEK_CONTROL;
typedef enum { FAT = 0 } SYS_FS_FILE_SYSTEM_TYPE;
typedef struct {
    uint8_t fmt;
    uint32_t au_size;
} SYS_FS_FORMAT_PARAM;
#define SYS_FS_FORMAT_FAT 0x01

SYS_FS_RESULT SYS_FS_Mount(const char *devName, const char *mountName, SYS_FS_FILE_SYSTEM_TYPE fsType,
                           unsigned long mountFlags, void *data);
SYS_FS_RESULT SYS_FS_DriveFormat(const char *drive, const SYS_FS_FORMAT_PARAM *opt, void *work, uint32_t len);
SYS_FS_RESULT SYS_FS_DirectoryMake(const char *path);
SYS_FS_HANDLE SYS_FS_FileOpen(const char *fname, SYS_FS_FILE_OPEN_ATTRIBUTES attributes);
size_t SYS_FS_FileRead(SYS_FS_HANDLE handle, void *buf, size_t nbyte);
size_t SYS_FS_FileWrite(SYS_FS_HANDLE handle, const void *buf, size_t nbyte);
int32_t SYS_FS_FileSeek(SYS_FS_HANDLE handle, int32_t offset, SYS_FS_FILE_SEEK_CONTROL whence);
int32_t SYS_FS_FileSize(SYS_FS_HANDLE handle);
bool SYS_FS_FileEOF(SYS_FS_HANDLE handle);
SYS_FS_RESULT SYS_FS_FileClose(SYS_FS_HANDLE handle);
SYS_FS_RESULT SYS_FS_FileDirectoryRemove(const char *path);
void SYS_FS_Tasks(void);

/* ---- NVM plib ---- */
#define NVM_FLASH_START_ADDRESS (0x90000000U)
#define NVM_FLASH_ROWSIZE (1024U)
#define NVM_FLASH_PAGESIZE (4096U)
typedef void (*NVM_CALLBACK)(uintptr_t context);
void NVM_Initialize(void);
bool NVM_Read(uint32_t *data, uint32_t length, const uint32_t address);
bool NVM_RowWrite(uint32_t *data, uint32_t address);
bool NVM_PageErase(uint32_t address);
bool NVM_IsBusy(void);
void NVM_CallbackRegister(NVM_CALLBACK callback, uintptr_t context);

/* ---- the system ---- */
void CLK_Initialize(void);
void GPIO_Initialize(void);
void UART1_Initialize(void);
void EVIC_Initialize(void);
void SYS_Initialize(void *data);
void SYS_Tasks(void);

#endif
