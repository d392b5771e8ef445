/* otaloop example application: the OTA system service's public API, with Harmony v3.9.1's names and values.
 *
 * otaloop's own small service (sys_ota.c) behind the API the developer guide has users call: control
 * messages, SYS_OTA_SET_PARAMETERS, the callback and its events, OTA_GetDownloadStatus.
 */
#ifndef OTALOOP_EXAMPLE_SYS_OTA_H
#define OTALOOP_EXAMPLE_SYS_OTA_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { SYS_OTA_SUCCESS = 0, SYS_OTA_FAILURE = 1 } SYS_OTA_RESULT;

typedef enum {
    SYS_OTA_REGCALLBACK = 0,
    SYS_OTA_UPDATECHCK,
    SYS_OTA_INITIATE_OTA,
    SYS_OTA_TRIGGER_SYSTEM_RESET,
    SYS_OTA_TRIGGER_FACTORY_RESET,
    SYS_OTA_TRIGGER_ROLLBACK
} SYS_OTA_CTRLMSG;

typedef enum {
    SYS_OTA_IDLE = 0,
    SYS_OTA_WAITING_FOR_NETWORK_CONNECTION,
    SYS_OTA_WAITING_FOR_OTACORE_IDLE,
    SYS_OTA_WAITING_FOR_USER_DEFINED_PERIOD,
    SYS_OTA_UPDATE_CHECK_START,
    SYS_OTA_UPDATE_CHECK_FAILED,
    SYS_OTA_UPDATE_AVAILABLE,
    SYS_OTA_UPDATE_NOTAVAILABLE,
    SYS_OTA_TRIGGER_OTA_FAILED,
    SYS_OTA_FACTORY_RESET_SUCCESS,
    SYS_OTA_FACTORY_RESET_FAILED,
    SYS_OTA_ROLLBACK_SUCCESS,
    SYS_OTA_ROLLBACK_FAILED,
    SYS_OTA_PATCH_BASEVERSION_NOTFOUND,
    SYS_OTA_PATCH_EVENT_START,
    SYS_OTA_PATCH_EVENT_COMPLETED,
    SYS_OTA_DOWNLOAD_START,
    SYS_OTA_DOWNLOAD_SUCCESS,
    SYS_OTA_DOWNLOAD_FAILED,
    SYS_OTA_IMAGE_DIGEST_VERIFY_START,
    SYS_OTA_IMAGE_DIGEST_VERIFY_SUCCESS,
    SYS_OTA_IMAGE_DIGEST_VERIFY_FAILED,
    SYS_OTA_PATCH_IMAGE_DIGEST_VERIFY_START,
    SYS_OTA_PATCH_IMAGE_DIGEST_VERIFY_SUCCESS,
    SYS_OTA_PATCH_IMAGE_DIGEST_VERIFY_FAILED,
    SYS_OTA_DB_ENTRY_SUCCESS,
    SYS_OTA_IMAGE_ERASE_FAILED,
    SYS_OTA_IMAGE_ERASED,
    SYS_OTA_IMAGE_DATABASE_FULL,
    SYS_OTA_NONE
} SYS_OTA_STATUS;

typedef void (*SYS_OTA_CALLBACK)(uint32_t event, void *data, void *cookie);

#define OTA_URL_SIZE 100
typedef struct {
    char ota_server_url[OTA_URL_SIZE];
    char serv_app_digest_string[66];
    uint32_t version;
    uint32_t total_data_downloaded;
    uint32_t server_image_length;
} OTA_PARAMS;

void SYS_OTA_Initialize(void);
void SYS_OTA_Tasks(void);
SYS_OTA_RESULT SYS_OTA_CtrlMsg(uint32_t event, void *buffer, uint32_t length);
void SYS_OTA_SET_PARAMETERS(char *url, uint32_t version, char *digest);
void OTA_GetDownloadStatus(OTA_PARAMS *p);
void SYS_OTA_SystemReset(void) __attribute__((noreturn));

#endif
