/* otaloop example application: the Harmony API names it uses, declared by otaloop (not Harmony's headers).
 *
 * SYS_FS and the NVM plib as the example bootloader declares them, SWITCH1 as Harmony's GPIO plib names it
 * (the pin reads 0 while the button is held), the software reset, and the OTA service (sys_ota.h).
 */
#ifndef OTALOOP_EXAMPLE_APP_DEFINITIONS_H
#define OTALOOP_EXAMPLE_APP_DEFINITIONS_H

#include "../example/definitions.h"
#include "otaloop_app.h"
#include "sys_ota.h"

/* ---- GPIO: SWITCH1 (RA10 on the WFI32E Curiosity board, active low) ---- */
#define SWITCH1_Get() (otaloop_switch_pressed() ? 0u : 1u)
#define SWITCH1_STATE_PRESSED 0u
#define SWITCH1_STATE_RELEASED 1u

/* ---- the system ---- */
void SYS_RESET_SoftwareReset(void) __attribute__((noreturn));
uint32_t SYS_TIME_CounterGet_ms(void);

/* ---- the application (app.c, app_ota.c) ---- */
void APP_Initialize(void);
void APP_Tasks(void);
bool ota_app_reg_cb(void);
/* Set by the callback on SYS_OTA_DB_ENTRY_SUCCESS: a downloaded image waits for a reset. */
extern volatile bool app_ota_db_entry_done;

#endif
