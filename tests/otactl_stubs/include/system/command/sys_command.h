/* Stub of SYS_COMMAND: the types and the one call otactl.c uses. */
#ifndef OTACTL_STUB_SYS_COMMAND_H
#define OTACTL_STUB_SYS_COMMAND_H

#include <stdbool.h>

#define MAX_CMD_ARGS 10

typedef void (*SYS_CMD_MSG_FNC)(const void *cmdIoParam, const char *str);
typedef void (*SYS_CMD_PRINT_FNC)(const void *cmdIoParam, const char *format, ...);

typedef struct
{
    SYS_CMD_MSG_FNC msg;
    SYS_CMD_PRINT_FNC print;
} SYS_CMD_API;

typedef struct
{
    const SYS_CMD_API *pCmdApi;
    const void *cmdIoParam;
} SYS_CMD_DEVICE_NODE;

typedef void (*SYS_CMD_FNC)(SYS_CMD_DEVICE_NODE *pCmdIO, int argc, char **argv);

typedef struct
{
    const char *cmdStr;
    SYS_CMD_FNC cmdFnc;
    const char *cmdDescr;
} SYS_CMD_DESCRIPTOR;

bool SYS_CMD_ADDGRP(const SYS_CMD_DESCRIPTOR *pCmdTbl, int nCmds, const char *groupName, const char *menuStr);

#endif
