/* Stub of the OTA core header: OTA_PARAMS with the fields otactl.c touches. */
#ifndef OTACTL_STUB_OTA_H
#define OTACTL_STUB_OTA_H

#include <stdint.h>

#define OTA_URL_SIZE 100

typedef struct OTA_PARAMS
{
    char ota_server_url[OTA_URL_SIZE];
    char serv_app_digest_string[66];
    uint32_t version;
    uint32_t total_data_downloaded;
    uint32_t server_image_length;
} OTA_PARAMS;

void OTA_GetDownloadStatus(OTA_PARAMS *result);

#endif
