/* otaloop example application: SYS_Initialize and SYS_Tasks as Harmony's generated tasks.c runs them,
 * plus the system services the example needs (the software reset, the millisecond counter). otaloop's
 * own code. */
#include "definitions.h"

void SYS_Initialize(void *data) {
    (void)data;
    SYS_OTA_Initialize();
    APP_Initialize();
}

void SYS_Tasks(void) {
    SYS_FS_Tasks();
    SYS_OTA_Tasks();
    APP_Tasks();
}

uint32_t SYS_TIME_CounterGet_ms(void) { return otaloop_time_ms(); }

void SYS_RESET_SoftwareReset(void) {
    SYSKEY = 0x00000000u;
    SYSKEY = 0xAA996655u;
    SYSKEY = 0x556699AAu;
    RSWRSTSET = 1u;
    (void)RSWRST; /* the read performs the reset */
    for (;;) {
    }
}
