/* otaloop native-bootloader shim layer: SYS_FS answered by the board's FAT volume (example builds).
 *
 * otaloop's example bootloader has no FatFs of its own: each SYS_FS call here is one request to the
 * host runner, which performs it on the board's FAT volume over the SST26 model, so its erases and page
 * programs are counted flash operations and a power cut during one ends the process inside the call.
 * Paths without a leading '/' are relative to the mount point, as SYS_FS's current drive is after a
 * mount. Harmony builds never use this file: they compile SYS_FS, FatFs and DRV_MEMORY from the project.
 * It is otaloop's own code.
 */
#include <string.h>

#include "definitions.h"
#include "otaloop_host.h"

#define MOUNT_POINT "/mnt/myDrive1"

static int32_t call(uint32_t opcode, uint32_t arg, const void *payload, uint32_t length) {
    return otaloop_fs_call(opcode, arg, payload, length, NULL, 0, NULL);
}

static uint32_t full_path(const char *path, char *out, size_t size) {
    int n = path[0] == '/' ? snprintf(out, size, "%s", path) : snprintf(out, size, "%s/%s", MOUNT_POINT, path);
    return n < 0 ? 0u : (uint32_t)((size_t)n < size ? (size_t)n : size - 1);
}

SYS_FS_RESULT SYS_FS_Mount(const char *devName, const char *mountName, SYS_FS_FILE_SYSTEM_TYPE fsType,
                           unsigned long mountFlags, void *data) {
    (void)devName, (void)mountName, (void)fsType, (void)mountFlags, (void)data;
    return call(OTALOOP_FS_MOUNT, 0, NULL, 0) == 0 ? SYS_FS_RES_SUCCESS : SYS_FS_RES_FAILURE;
}

SYS_FS_RESULT SYS_FS_DriveFormat(const char *drive, const SYS_FS_FORMAT_PARAM *opt, void *work, uint32_t len) {
    (void)drive, (void)opt, (void)work, (void)len;
    return call(OTALOOP_FS_FORMAT, 0, NULL, 0) == 0 ? SYS_FS_RES_SUCCESS : SYS_FS_RES_FAILURE;
}

SYS_FS_RESULT SYS_FS_DirectoryMake(const char *path) {
    char full[256];
    uint32_t n = full_path(path, full, sizeof full);
    return call(OTALOOP_FS_MKDIR, 0, full, n) == 0 ? SYS_FS_RES_SUCCESS : SYS_FS_RES_FAILURE;
}

SYS_FS_RESULT SYS_FS_FileDirectoryRemove(const char *path) {
    char full[256];
    uint32_t n = full_path(path, full, sizeof full);
    return call(OTALOOP_FS_REMOVE, 0, full, n) == 0 ? SYS_FS_RES_SUCCESS : SYS_FS_RES_FAILURE;
}

SYS_FS_HANDLE SYS_FS_FileOpen(const char *fname, SYS_FS_FILE_OPEN_ATTRIBUTES attributes) {
    char full[256];
    uint32_t n = full_path(fname, full, sizeof full);
    int32_t h = call(OTALOOP_FS_OPEN, (uint32_t)attributes, full, n);
    return h <= 0 ? SYS_FS_HANDLE_INVALID : (SYS_FS_HANDLE)h;
}

size_t SYS_FS_FileRead(SYS_FS_HANDLE handle, void *buf, size_t nbyte) {
    uint32_t want = (uint32_t)nbyte, got = 0;
    int32_t r = otaloop_fs_call(OTALOOP_FS_READ, (uint32_t)handle, &want, sizeof want, buf, want, &got);
    return r < 0 ? (size_t)-1 : got;
}

size_t SYS_FS_FileWrite(SYS_FS_HANDLE handle, const void *buf, size_t nbyte) {
    int32_t r = call(OTALOOP_FS_WRITE, (uint32_t)handle, buf, (uint32_t)nbyte);
    return r < 0 ? (size_t)-1 : (size_t)r;
}

int32_t SYS_FS_FileSeek(SYS_FS_HANDLE handle, int32_t offset, SYS_FS_FILE_SEEK_CONTROL whence) {
    int32_t pos = offset;
    if (whence == SYS_FS_SEEK_END) pos += call(OTALOOP_FS_SIZE, (uint32_t)handle, NULL, 0);
    if (whence == SYS_FS_SEEK_CUR) pos += call(OTALOOP_FS_TELL, (uint32_t)handle, NULL, 0);
    return call(OTALOOP_FS_SEEK, (uint32_t)handle, &pos, sizeof pos) == 0 ? pos : -1;
}

int32_t SYS_FS_FileSize(SYS_FS_HANDLE handle) { return call(OTALOOP_FS_SIZE, (uint32_t)handle, NULL, 0); }

bool SYS_FS_FileEOF(SYS_FS_HANDLE handle) {
    int32_t size = call(OTALOOP_FS_SIZE, (uint32_t)handle, NULL, 0);
    return size < 0 || call(OTALOOP_FS_TELL, (uint32_t)handle, NULL, 0) >= size;
}

SYS_FS_RESULT SYS_FS_FileClose(SYS_FS_HANDLE handle) {
    return call(OTALOOP_FS_CLOSE, (uint32_t)handle, NULL, 0) == 0 ? SYS_FS_RES_SUCCESS : SYS_FS_RES_FAILURE;
}

void SYS_FS_Tasks(void) {}
