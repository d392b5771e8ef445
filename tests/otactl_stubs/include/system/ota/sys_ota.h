/* Stub of the OTA system service header: the enums, SYS_OTA_DATA.state and the calls otactl.c uses.
 *
 * The enumerator lists are X-macros so that the fake runtime can look a state up by name without
 * sharing otactl.c's own name switch. Order and names follow Harmony v3.9.1's sys_ota.h.
 */
#ifndef OTACTL_STUB_SYS_OTA_H
#define OTACTL_STUB_SYS_OTA_H

#include <stdint.h>

#include "configuration.h"
#include "system/ota/framework/ota.h"

#ifdef SYS_OTA_FILE_DOWNLOAD_ENABLED
#define OTACTL_STUB_FILE_STATES(X) X(SYS_OTA_DOWNLOAD_FILES)
#else
#define OTACTL_STUB_FILE_STATES(X)
#endif

#define OTACTL_STUB_STATES(X)                  \
    X(SYS_OTA_REGWIFISRVCALLBCK)               \
    X(SYS_OTA_WAITFOR_NETWORK_CONNECTION)      \
    X(SYS_OTA_WAITFOR_OTAIDLE)                 \
    X(SYS_OTA_REGOTACALLBCK)                   \
    X(SYS_OTA_AUTO_CONFIGURATION_CHECK)        \
    X(SYS_OTA_SERVER_UPDATE_CHECK)             \
    X(SYS_OTA_WAIT_FOR_OTA_TIMER_TRIGGER)      \
    X(SYS_OTA_AUTO_UPDATE_CHECK)               \
    X(SYS_OTA_TRIGGER_OTA)                     \
    X(SYS_OTA_WAIT_FOR_OTA_COMPLETE)           \
    X(SYS_OTA_ERASE_IMAGE)                     \
    X(SYS_OTA_FACTORY_RESET)                   \
    X(SYS_OTA_ROLLBACK)                        \
    X(SYS_OTA_UPDATE_USER)                     \
    X(SYS_OTA_AUTORESET)                       \
    X(SYS_OTA_SYSTEM_RESET)                    \
    X(SYS_OTA_STATE_IDLE)                      \
    X(SYS_OTA_UPDATE_CHECK_INIT)               \
    X(SYS_OTA_UPDATE_CHECK_CNCT_TO_SRVR)       \
    X(SYS_OTA_UPDATE_CHECK_READ_JSON)          \
    X(SYS_OTA_UPDATE_CHECK_JSON_CONTENT)       \
    OTACTL_STUB_FILE_STATES(X)                 \
    X(SYS_OTA_UPDATE_CHECK_DONE)               \
    X(SYS_OTA_SERVER_UPDATE_CHECK_TRIGGER)

#define OTACTL_STUB_CTRLMSGS(X)        \
    X(SYS_OTA_REGCALLBACK)             \
    X(SYS_OTA_UPDATECHCK)              \
    X(SYS_OTA_INITIATE_OTA)            \
    X(SYS_OTA_TRIGGER_SYSTEM_RESET)    \
    X(SYS_OTA_TRIGGER_FACTORY_RESET)   \
    X(SYS_OTA_TRIGGER_ROLLBACK)

#define OTACTL_STUB_ENUMERATOR(name) name,

typedef enum
{
    OTACTL_STUB_STATES(OTACTL_STUB_ENUMERATOR)
} SYS_OTA_STATES;

typedef enum
{
    OTACTL_STUB_CTRLMSGS(OTACTL_STUB_ENUMERATOR)
} SYS_OTA_CTRLMSG;

typedef enum
{
    SYS_OTA_SUCCESS = 0,
    SYS_OTA_FAILURE
} SYS_OTA_RESULT;

typedef struct
{
    SYS_OTA_STATES state;
} SYS_OTA_DATA;

SYS_OTA_RESULT SYS_OTA_CtrlMsg(uint32_t event, void *buffer, uint32_t length);
void SYS_OTA_SET_PARAMETERS(char *url, uint32_t version, char *digest);

#endif
