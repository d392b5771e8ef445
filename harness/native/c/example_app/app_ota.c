/* otaloop example application: app_ota.c as Harmony generates it -- register the callback, print each event.
 *
 * sys_ota_cb prints the event's name, one line each (IMAGE_DIGEST_VERIFY_FAILED prints
 * SYS_OTA_IMAGE_VERIFICATION_FAILED, as the generated file does), and notes SYS_OTA_DB_ENTRY_SUCCESS for
 * app.c. otaloop's own code, written to the developer guide's description.
 */
#include "definitions.h"

volatile bool app_ota_db_entry_done;

static const char *const NAMES[] = {
    "SYS_OTA_IDLE", "SYS_OTA_WAITING_FOR_NETWORK_CONNECTION", "SYS_OTA_WAITING_FOR_OTACORE_IDLE",
    "SYS_OTA_WAITING_FOR_USER_DEFINED_PERIOD", "SYS_OTA_UPDATE_CHECK_START", "SYS_OTA_UPDATE_CHECK_FAILED",
    "SYS_OTA_UPDATE_AVAILABLE", "SYS_OTA_UPDATE_NOTAVAILABLE", "SYS_OTA_TRIGGER_OTA_FAILED",
    "SYS_OTA_FACTORY_RESET_SUCCESS", "SYS_OTA_FACTORY_RESET_FAILED", "SYS_OTA_ROLLBACK_SUCCESS",
    "SYS_OTA_ROLLBACK_FAILED", "SYS_OTA_PATCH_BASEVERSION_NOTFOUND", "SYS_OTA_PATCH_EVENT_START",
    "SYS_OTA_PATCH_EVENT_COMPLETED", "SYS_OTA_DOWNLOAD_START", "SYS_OTA_DOWNLOAD_SUCCESS",
    "SYS_OTA_DOWNLOAD_FAILED", "SYS_OTA_IMAGE_DIGEST_VERIFY_START", "SYS_OTA_IMAGE_DIGEST_VERIFY_SUCCESS",
    "SYS_OTA_IMAGE_VERIFICATION_FAILED", "SYS_OTA_PATCH_IMAGE_DIGEST_VERIFY_START",
    "SYS_OTA_PATCH_IMAGE_DIGEST_VERIFY_SUCCESS", "SYS_OTA_PATCH_IMAGE_DIGEST_VERIFY_FAILED",
    "SYS_OTA_DB_ENTRY_SUCCESS", "SYS_OTA_IMAGE_ERASE_FAILED", "SYS_OTA_IMAGE_ERASED",
    "SYS_OTA_IMAGE_DATABASE_FULL", "SYS_OTA_NONE",
};

static void sys_ota_cb(uint32_t event, void *data, void *cookie) {
    (void)data, (void)cookie;
    if (event < sizeof NAMES / sizeof NAMES[0]) printf("%s\r\n", NAMES[event]);
    if (event == SYS_OTA_DB_ENTRY_SUCCESS) app_ota_db_entry_done = true;
}

bool ota_app_reg_cb(void) {
    SYS_OTA_CALLBACK cb = sys_ota_cb;
    return SYS_OTA_CtrlMsg(SYS_OTA_REGCALLBACK, &cb, sizeof cb) == SYS_OTA_SUCCESS;
}
