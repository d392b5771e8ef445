/*
 * otactl.c - the "otactl" console command group for OTA test firmware.
 *
 * Each command forwards to the OTA system service's public API
 * (SYS_OTA_CtrlMsg, SYS_OTA_SET_PARAMETERS, OTA_GetDownloadStatus) and
 * answers exactly one line, so a test host can match answers without
 * parsing free text. The answers are a contract with the otaloop virtual
 * board (bootloader_model/service/commands.py, function otactl); change both or
 * neither. This file does not run any OTA step itself, keeps no state of
 * its own, and prints nothing but the answers and the start-up banner.
 *
 * How to add it to a project: see otactl.h.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "configuration.h"
#include "system/command/sys_command.h"
#include "system/console/sys_console.h"
#include "system/ota/sys_ota.h"
#include "system/ota/framework/ota.h"

#include "otactl.h"

/* The service's data is a plain global in sys_ota.c; sys_ota.h declares its
   type but not the object, so declare it here. Only .state is read. */
extern SYS_OTA_DATA sys_otaData;

#define OTACTL_EOL "\r\n"

static const char otactlUsage[] =
    "otactl: usage: otactl check|start [<url> <version> <digest>]"
    "|sysreset|factory|rollback|status" OTACTL_EOL;

/* The subcommands that are a bare control message. */
typedef struct
{
    const char *name;
    SYS_OTA_CTRLMSG msg;
} OTACTL_SIMPLE;

static const OTACTL_SIMPLE otactlSimple[] =
{
    { "check",    SYS_OTA_UPDATECHCK },
    { "sysreset", SYS_OTA_TRIGGER_SYSTEM_RESET },
    { "factory",  SYS_OTA_TRIGGER_FACTORY_RESET },
    { "rollback", SYS_OTA_TRIGGER_ROLLBACK },
};

/* The state's enumerator name. A switch over the names rather than a table
   indexed by value: the enum's numbering moves when the File Download option
   adds SYS_OTA_DOWNLOAD_FILES in the middle of it. */
static const char *OTACTL_StateName(SYS_OTA_STATES state)
{
    switch (state)
    {
        case SYS_OTA_REGWIFISRVCALLBCK:            return "SYS_OTA_REGWIFISRVCALLBCK";
        case SYS_OTA_WAITFOR_NETWORK_CONNECTION:   return "SYS_OTA_WAITFOR_NETWORK_CONNECTION";
        case SYS_OTA_WAITFOR_OTAIDLE:              return "SYS_OTA_WAITFOR_OTAIDLE";
        case SYS_OTA_REGOTACALLBCK:                return "SYS_OTA_REGOTACALLBCK";
        case SYS_OTA_AUTO_CONFIGURATION_CHECK:     return "SYS_OTA_AUTO_CONFIGURATION_CHECK";
        case SYS_OTA_SERVER_UPDATE_CHECK:          return "SYS_OTA_SERVER_UPDATE_CHECK";
        case SYS_OTA_WAIT_FOR_OTA_TIMER_TRIGGER:   return "SYS_OTA_WAIT_FOR_OTA_TIMER_TRIGGER";
        case SYS_OTA_AUTO_UPDATE_CHECK:            return "SYS_OTA_AUTO_UPDATE_CHECK";
        case SYS_OTA_TRIGGER_OTA:                  return "SYS_OTA_TRIGGER_OTA";
        case SYS_OTA_WAIT_FOR_OTA_COMPLETE:        return "SYS_OTA_WAIT_FOR_OTA_COMPLETE";
        case SYS_OTA_ERASE_IMAGE:                  return "SYS_OTA_ERASE_IMAGE";
        case SYS_OTA_FACTORY_RESET:                return "SYS_OTA_FACTORY_RESET";
        case SYS_OTA_ROLLBACK:                     return "SYS_OTA_ROLLBACK";
        case SYS_OTA_UPDATE_USER:                  return "SYS_OTA_UPDATE_USER";
        case SYS_OTA_AUTORESET:                    return "SYS_OTA_AUTORESET";
        case SYS_OTA_SYSTEM_RESET:                 return "SYS_OTA_SYSTEM_RESET";
        case SYS_OTA_STATE_IDLE:                   return "SYS_OTA_STATE_IDLE";
        case SYS_OTA_UPDATE_CHECK_INIT:            return "SYS_OTA_UPDATE_CHECK_INIT";
        case SYS_OTA_UPDATE_CHECK_CNCT_TO_SRVR:    return "SYS_OTA_UPDATE_CHECK_CNCT_TO_SRVR";
        case SYS_OTA_UPDATE_CHECK_READ_JSON:       return "SYS_OTA_UPDATE_CHECK_READ_JSON";
        case SYS_OTA_UPDATE_CHECK_JSON_CONTENT:    return "SYS_OTA_UPDATE_CHECK_JSON_CONTENT";
#ifdef SYS_OTA_FILE_DOWNLOAD_ENABLED
        case SYS_OTA_DOWNLOAD_FILES:               return "SYS_OTA_DOWNLOAD_FILES";
#endif
        case SYS_OTA_UPDATE_CHECK_DONE:            return "SYS_OTA_UPDATE_CHECK_DONE";
        case SYS_OTA_SERVER_UPDATE_CHECK_TRIGGER:  return "SYS_OTA_SERVER_UPDATE_CHECK_TRIGGER";
        default:                                   return NULL;
    }
}

/* A version is one or more decimal digits and must fit SYS_OTA_SET_PARAMETERS'
   uint32_t; strtoul is not used because it accepts signs, blanks and hex
   prefixes and its range depends on the width of long. */
static bool OTACTL_ParseVersion(const char *text, uint32_t *version)
{
    uint32_t value = 0U;

    if (*text == '\0')
    {
        return false;
    }
    for (; *text != '\0'; text++)
    {
        uint32_t digit;

        if ((*text < '0') || (*text > '9'))
        {
            return false;
        }
        digit = (uint32_t)(*text - '0');
        if (value > ((UINT32_MAX - digit) / 10U))
        {
            return false;
        }
        value = (value * 10U) + digit;
    }
    *version = value;
    return true;
}

static void OTACTL_Result(SYS_CMD_DEVICE_NODE *pCmdIO, SYS_OTA_RESULT result)
{
    const void *io = pCmdIO->cmdIoParam;

    if (result == SYS_OTA_SUCCESS)
    {
        (*pCmdIO->pCmdApi->msg)(io, "otactl: SYS_OTA_SUCCESS" OTACTL_EOL);
    }
    else
    {
        (*pCmdIO->pCmdApi->msg)(io, "otactl: SYS_OTA_FAILURE" OTACTL_EOL);
    }
}

static void OTACTL_Start(SYS_CMD_DEVICE_NODE *pCmdIO, int argc, char **argv)
{
    const void *io = pCmdIO->cmdIoParam;

    if (argc == 5)
    {
        uint32_t version;

        /* SYS_OTA_SET_PARAMETERS copies the URL with its terminator into the
           OTA_URL_SIZE bytes of OTA_PARAMS.ota_server_url without a length
           check; a longer URL would overwrite the fields after it. */
        if (strlen(argv[2]) >= (size_t)OTA_URL_SIZE)
        {
            (*pCmdIO->pCmdApi->msg)(io, "otactl: url too long" OTACTL_EOL);
            return;
        }
        if (!OTACTL_ParseVersion(argv[3], &version))
        {
            (*pCmdIO->pCmdApi->msg)(io, "otactl: bad version" OTACTL_EOL);
            return;
        }
        SYS_OTA_SET_PARAMETERS(argv[2], version, argv[4]);
    }
    OTACTL_Result(pCmdIO, SYS_OTA_CtrlMsg((uint32_t)SYS_OTA_INITIATE_OTA, NULL, 0U));
}

static void OTACTL_Status(SYS_CMD_DEVICE_NODE *pCmdIO)
{
    /* Static, not on the stack: OTA_PARAMS holds several URL and digest
       buffers, and SYS_COMMAND's print already puts a 1 KB format buffer on
       the command task's stack. Only the command task runs this handler. */
    static OTA_PARAMS progress;
    const char *name = OTACTL_StateName(sys_otaData.state);

    (void)memset(&progress, 0, sizeof(progress));
    OTA_GetDownloadStatus(&progress);
    if (name != NULL)
    {
        (*pCmdIO->pCmdApi->print)(pCmdIO->cmdIoParam,
            "otactl: state=%s downloaded=%lu total=%lu version=%lu" OTACTL_EOL,
            name,
            (unsigned long)progress.total_data_downloaded,
            (unsigned long)progress.server_image_length,
            (unsigned long)SYS_OTA_APP_VER_NUM);
    }
    else
    {
        /* Not reachable with the v3.9.1 enum; keeps a newer one readable. */
        (*pCmdIO->pCmdApi->print)(pCmdIO->cmdIoParam,
            "otactl: state=%d downloaded=%lu total=%lu version=%lu" OTACTL_EOL,
            (int)sys_otaData.state,
            (unsigned long)progress.total_data_downloaded,
            (unsigned long)progress.server_image_length,
            (unsigned long)SYS_OTA_APP_VER_NUM);
    }
}

static void OTACTL_Command(SYS_CMD_DEVICE_NODE *pCmdIO, int argc, char **argv)
{
    const char *sub = (argc > 1) ? argv[1] : NULL;
    size_t i;

    if (sub != NULL)
    {
        if (argc == 2)
        {
            for (i = 0U; i < (sizeof(otactlSimple) / sizeof(otactlSimple[0])); i++)
            {
                if (strcmp(sub, otactlSimple[i].name) == 0)
                {
                    OTACTL_Result(pCmdIO,
                        SYS_OTA_CtrlMsg((uint32_t)otactlSimple[i].msg, NULL, 0U));
                    return;
                }
            }
            if (strcmp(sub, "status") == 0)
            {
                OTACTL_Status(pCmdIO);
                return;
            }
        }
        if ((strcmp(sub, "start") == 0) && ((argc == 2) || (argc == 5)))
        {
            OTACTL_Start(pCmdIO, argc, argv);
            return;
        }
    }
    (*pCmdIO->pCmdApi->msg)(pCmdIO->cmdIoParam, otactlUsage);
}

static const SYS_CMD_DESCRIPTOR otactlCmdTbl[] =
{
    { "otactl", OTACTL_Command, ": OTA control messages" },
};

bool OTACTL_Initialize(void)
{
    return SYS_CMD_ADDGRP(otactlCmdTbl,
                          (int)(sizeof(otactlCmdTbl) / sizeof(otactlCmdTbl[0])),
                          "otactl", ": OTA control");
}

void OTACTL_PrintBanner(void)
{
    SYS_CONSOLE_PRINT("APP: version %lu" OTACTL_EOL, (unsigned long)SYS_OTA_APP_VER_NUM);
}
