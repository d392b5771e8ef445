/* otaloop example application: app.c with the developer guide's user trigger on SWITCH1.
 *
 * At start it prints the version banner and registers the OTA callback. Each press of SWITCH1 sends one
 * control message to the OTA service: APP_SWITCH_MESSAGE, SYS_OTA_UPDATECHCK unless the build defines
 * another (e.g. -DAPP_SWITCH_MESSAGE=SYS_OTA_TRIGGER_FACTORY_RESET). A refused message prints
 * "APP: SYS_OTA_CtrlMsg refused" (the service takes control messages only while idle). While a download
 * runs it prints its progress with OTA_GetDownloadStatus once per board second. otaloop's own code.
 */
#include "definitions.h"

#ifndef APP_SWITCH_MESSAGE
#define APP_SWITCH_MESSAGE SYS_OTA_UPDATECHCK
#endif

typedef enum { APP_STATE_INIT, APP_STATE_SERVICE_TASKS } APP_STATES;

static struct {
    APP_STATES state;
    uint32_t last_switch;
    uint32_t progress_at_ms;
    uint32_t last_downloaded;
} appData;

void APP_Initialize(void) {
    appData.state = APP_STATE_INIT;
    appData.last_switch = SWITCH1_STATE_RELEASED;
}

void APP_Tasks(void) {
    switch (appData.state) {
        case APP_STATE_INIT:
            printf("APP: version %lu\r\n", (unsigned long)otaloop_app_info()->version);
            if (!ota_app_reg_cb()) printf("SYS OTA : OTA callback register failed \r\n");
            appData.state = APP_STATE_SERVICE_TASKS;
            break;
        case APP_STATE_SERVICE_TASKS: {
            uint32_t now = SWITCH1_Get();
            if (now == SWITCH1_STATE_PRESSED && appData.last_switch != SWITCH1_STATE_PRESSED) {
                printf("APP: SWITCH1 pressed\r\n");
                if (SYS_OTA_CtrlMsg(APP_SWITCH_MESSAGE, NULL, 0) != SYS_OTA_SUCCESS)
                    printf("APP: SYS_OTA_CtrlMsg refused\r\n");
            }
            appData.last_switch = now;
            uint32_t ms = SYS_TIME_CounterGet_ms();
            if (ms - appData.progress_at_ms >= 1000u) {
                OTA_PARAMS p;
                OTA_GetDownloadStatus(&p);
                if (p.total_data_downloaded != appData.last_downloaded && p.total_data_downloaded < p.server_image_length)
                    printf("APP: downloaded %lu of %lu bytes\r\n", (unsigned long)p.total_data_downloaded,
                           (unsigned long)p.server_image_length);
                appData.last_downloaded = p.total_data_downloaded;
                appData.progress_at_ms = ms;
            }
            break;
        }
    }
}
