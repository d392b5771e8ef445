/* Stub of a generated configuration.h: the options otactl.c reads. */
#ifndef OTACTL_STUB_CONFIGURATION_H
#define OTACTL_STUB_CONFIGURATION_H

#ifndef SYS_OTA_APP_VER_NUM
#define SYS_OTA_APP_VER_NUM 1
#endif

#define SYS_CMD_ENABLE

#endif
