/* otaloop native shim layer: the running image's version for Harmony application builds (gcc -include).
 *
 * On the part SYS_OTA_APP_VER_NUM is a compile-time macro of configuration.h, one build per version. On the
 * virtual board one build runs every image, so the version is the running image's app descriptor's:
 * configuration.h is read here first (its include guard keeps it from being read again) and the macro is
 * redefined to ask the helper. sys_ota.c's g_SysOtaConfig.app_version and otactl's banner then say the version
 * of the image that runs. It is otaloop's own code.
 */
#ifndef OTALOOP_HARMONY_CONFIG_H
#define OTALOOP_HARMONY_CONFIG_H
#include <stdint.h>
#include "configuration.h"
uint32_t otaloop_app_version(void);
#undef SYS_OTA_APP_VER_NUM
#define SYS_OTA_APP_VER_NUM (otaloop_app_version())
#endif
