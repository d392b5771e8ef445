/*
 * otactl.h - the "otactl" console command group for OTA test firmware.
 *
 * otactl lets a test host drive the MPLAB Harmony v3 OTA system service of a
 * PIC32MZ W1 / WFI32E01 board over the SYS_COMMAND console, one short line
 * per command, so that the otaloop scenario suite can run on real hardware.
 * It was written against Harmony v3.9.1 and the wifi_ota_app_upgrade
 * application; the otaloop virtual board answers the same commands in
 * bootloader_model/service/commands.py, and tests/test_otactl_c.py checks that the
 * two give byte-identical answers.
 *
 * Adding it to a Harmony project
 * ------------------------------
 * 1. Put otactl.c and otactl.h in the application's source folder (for
 *    wifi_ota_app_upgrade: firmware/src/) and add both to the MPLAB X
 *    project. The project must have the Command Processor (SYS_COMMAND),
 *    the Console and the OTA system service; the sysota CLI option is not
 *    needed.
 * 2. Register the group once the OTA service exists: in
 *    config/<configuration>/initialization.c, call OTACTL_Initialize()
 *    somewhere after SYS_OTA_Initialize() (for example in APP_Initialize(),
 *    which SYS_Initialize runs later). Registering before SYS_CMD_Initialize
 *    is fine: the group table is static and not cleared by it.
 * 3. From APP_Initialize(), call OTACTL_PrintBanner() so the board announces
 *    "APP: version <SYS_OTA_APP_VER_NUM>" at every start; the host uses that
 *    line to tell which image is running.
 *
 * Commands (every answer is one line ending in CR LF):
 *   otactl check | sysreset | factory | rollback
 *   otactl start [<url> <version> <digest>]
 *   otactl status
 * See docs/otactl.md for the answers.
 */
#ifndef OTACTL_H
#define OTACTL_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Register the "otactl" group with SYS_COMMAND; false when the command
   processor has no free group slot. */
bool OTACTL_Initialize(void);

/* Print "APP: version <SYS_OTA_APP_VER_NUM>\r\n" on the console. */
void OTACTL_PrintBanner(void);

#ifdef __cplusplus
}
#endif

#endif /* OTACTL_H */
