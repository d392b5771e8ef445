/*
 * A fake Harmony runtime for host builds of otactl.c (see README.md here).
 *
 * It stands in for SYS_COMMAND, the console and the OTA service: the test
 * sets the service state, the download counters and the control-message
 * result with "@" lines on stdin; other lines are console command lines,
 * split into arguments the way SYS_COMMAND does and handed to the command
 * registered under argv[0]. Every API call otactl.c makes is recorded and
 * printed after the command's output, so the test can compare both.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "configuration.h"
#include "system/command/sys_command.h"
#include "system/console/sys_console.h"
#include "system/ota/sys_ota.h"
#include "system/ota/framework/ota.h"

#include "otactl.h"

#define FAKE_PRINT_BUFFER 1024 /* SYS_CMD_PRINT_BUFFER_SIZE of wifi_ota_app_upgrade */
#define FAKE_LINE 4096
#define FAKE_GROUPS 8

SYS_OTA_DATA sys_otaData;

static SYS_OTA_RESULT fakeResult = SYS_OTA_FAILURE;
static uint32_t fakeDownloaded;
static uint32_t fakeTotal;
static OTA_PARAMS fakeParams; /* where SYS_OTA_SET_PARAMETERS copies to */

static char fakeOut[65536];
static size_t fakeOutLen;
static char fakeCalls[65536];
static size_t fakeCallsLen;

static const SYS_CMD_DESCRIPTOR *fakeTables[FAKE_GROUPS];
static int fakeCounts[FAKE_GROUPS];

#define FAKE_NAME_ENTRY(name) {#name, (int)name},
typedef struct
{
    const char *name;
    int value;
} FAKE_NAME;
static const FAKE_NAME fakeStates[] = {OTACTL_STUB_STATES(FAKE_NAME_ENTRY)};
static const FAKE_NAME fakeMsgs[] = {OTACTL_STUB_CTRLMSGS(FAKE_NAME_ENTRY)};

static void FakeAppend(char *buf, size_t *len, size_t cap, const char *data, size_t n)
{
    if (*len + n > cap)
    {
        fprintf(stderr, "fake runtime: buffer full\n");
        exit(4);
    }
    memcpy(buf + *len, data, n);
    *len += n;
}

static void FakeCall(const char *format, ...)
{
    char line[1024];
    va_list args;
    int n;

    va_start(args, format);
    n = vsnprintf(line, sizeof(line), format, args);
    va_end(args);
    if (n < 0 || (size_t)n >= sizeof(line))
    {
        fprintf(stderr, "fake runtime: call record too long\n");
        exit(4);
    }
    FakeAppend(fakeCalls, &fakeCallsLen, sizeof(fakeCalls), line, (size_t)n);
}

static void FakeHex(char *dst, const char *src)
{
    static const char digits[] = "0123456789abcdef";
    for (; *src != '\0'; src++)
    {
        unsigned char c = (unsigned char)*src;
        *dst++ = digits[c >> 4];
        *dst++ = digits[c & 15U];
    }
    *dst = '\0';
}

/* ---------------------------------------------------------------- SYS_COMMAND */
static void FakeMsg(const void *cmdIoParam, const char *str)
{
    (void)cmdIoParam;
    FakeAppend(fakeOut, &fakeOutLen, sizeof(fakeOut), str, strlen(str));
}

static void FakeVPrint(const char *format, va_list args)
{
    char buf[FAKE_PRINT_BUFFER];
    int n = vsnprintf(buf, sizeof(buf), format, args);
    if (n < 0)
    {
        return;
    }
    if ((size_t)n >= sizeof(buf))
    {
        n = (int)sizeof(buf) - 1; /* vsnprintf kept what fits */
    }
    FakeAppend(fakeOut, &fakeOutLen, sizeof(fakeOut), buf, (size_t)n);
}

static void FakePrint(const void *cmdIoParam, const char *format, ...)
{
    va_list args;
    (void)cmdIoParam;
    va_start(args, format);
    FakeVPrint(format, args);
    va_end(args);
}

void FAKE_ConsolePrint(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    FakeVPrint(format, args);
    va_end(args);
}

static const SYS_CMD_API fakeApi = {FakeMsg, FakePrint};
static SYS_CMD_DEVICE_NODE fakeNode = {&fakeApi, NULL};

bool SYS_CMD_ADDGRP(const SYS_CMD_DESCRIPTOR *pCmdTbl, int nCmds, const char *groupName, const char *menuStr)
{
    char menu[512];
    int i;

    FakeHex(menu, menuStr);
    FakeCall("CALL ADDGRP %s %s %d", groupName, menu, nCmds);
    for (i = 0; i < nCmds; i++)
    {
        FakeCall(" %s", pCmdTbl[i].cmdStr);
    }
    FakeCall("\n");
    for (i = 0; i < FAKE_GROUPS; i++)
    {
        if (fakeTables[i] == NULL || fakeTables[i] == pCmdTbl)
        {
            fakeTables[i] = pCmdTbl;
            fakeCounts[i] = nCmds;
            return true;
        }
    }
    return false;
}

/* Split a line into arguments copied to store: blanks, tabs and commas
   separate arguments; a double-quoted stretch is one argument; an unclosed or
   empty quote makes the whole line invalid (-1). Returns the number of
   arguments found, which may exceed maxArgs (only the first maxArgs are
   kept). store needs room for twice the line's length plus one. */
static int FakeSplit(const char *line, char *store, char **argv, int maxArgs)
{
    int argc = 0;
    const char *p = line;

    for (;;)
    {
        const char *start;
        size_t n;

        while (*p == ' ' || *p == '\t' || *p == ',')
        {
            p++;
        }
        if (*p == '\0')
        {
            return argc;
        }
        if (*p == '"')
        {
            const char *end = strchr(p + 1, '"');
            if (end == NULL || end == p + 1)
            {
                return -1;
            }
            start = p + 1;
            n = (size_t)(end - start);
            p = end + 1;
        }
        else
        {
            start = p;
            while (*p != '\0' && *p != ' ' && *p != '\t' && *p != ',' && *p != '"')
            {
                p++;
            }
            n = (size_t)(p - start);
        }
        memcpy(store, start, n);
        store[n] = '\0';
        if (argc < maxArgs)
        {
            argv[argc] = store;
        }
        argc++;
        store += n + 1U;
    }
}

static void FakeRun(const char *line)
{
    static char store[2 * FAKE_LINE + 1];
    char *argv[MAX_CMD_ARGS] = {0};
    int argc = FakeSplit(line, store, argv, MAX_CMD_ARGS);
    int g, i;

    if (argc <= 0)
    {
        FakeMsg(NULL, "FAKE: no command\n");
        return;
    }
    if (argc > MAX_CMD_ARGS)
    {
        FakeMsg(NULL, "FAKE: too many arguments\n");
        return;
    }
    for (g = 0; g < FAKE_GROUPS && fakeTables[g] != NULL; g++)
    {
        for (i = 0; i < fakeCounts[g]; i++)
        {
            if (strcmp(argv[0], fakeTables[g][i].cmdStr) == 0)
            {
                fakeTables[g][i].cmdFnc(&fakeNode, argc, argv);
                return;
            }
        }
    }
    FakeMsg(NULL, "FAKE: unknown command\n");
}

/* ---------------------------------------------------------------- OTA service */
SYS_OTA_RESULT SYS_OTA_CtrlMsg(uint32_t event, void *buffer, uint32_t length)
{
    const char *name = "?";
    size_t i;

    for (i = 0; i < sizeof(fakeMsgs) / sizeof(fakeMsgs[0]); i++)
    {
        if ((uint32_t)fakeMsgs[i].value == event)
        {
            name = fakeMsgs[i].name;
        }
    }
    FakeCall("CALL CtrlMsg %s %d %lu\n", name, buffer == NULL, (unsigned long)length);
    return fakeResult;
}

void SYS_OTA_SET_PARAMETERS(char *url, uint32_t version, char *digest)
{
    char urlHex[2 * FAKE_LINE + 1];
    char digestHex[2 * FAKE_LINE + 1];

    FakeHex(urlHex, url);
    FakeHex(digestHex, digest);
    FakeCall("CALL SetParams %s %lu %s\n", urlHex, (unsigned long)version, digestHex);
    /* The real service copies the whole string into a fixed field. */
    if (strlen(url) + 1U > sizeof(fakeParams.ota_server_url))
    {
        printf("OVERFLOW url of %lu bytes\n", (unsigned long)strlen(url));
        exit(3);
    }
    memcpy(fakeParams.ota_server_url, url, strlen(url) + 1U);
    fakeParams.version = version;
    strncpy(fakeParams.serv_app_digest_string, digest, 64);
}

void OTA_GetDownloadStatus(OTA_PARAMS *result)
{
    FakeCall("CALL GetDownloadStatus\n");
    result->total_data_downloaded = fakeDownloaded;
    result->server_image_length = fakeTotal;
}

/* ---------------------------------------------------------------- driver */
static bool FakeDirective(char *line)
{
    char name[128];
    unsigned long a, b;
    size_t i;

    if (sscanf(line, "@state %127s", name) == 1)
    {
        for (i = 0; i < sizeof(fakeStates) / sizeof(fakeStates[0]); i++)
        {
            if (strcmp(fakeStates[i].name, name) == 0)
            {
                sys_otaData.state = (SYS_OTA_STATES)fakeStates[i].value;
                return true;
            }
        }
        return false;
    }
    if (sscanf(line, "@dl %lu %lu", &a, &b) == 2)
    {
        fakeDownloaded = (uint32_t)a;
        fakeTotal = (uint32_t)b;
        return true;
    }
    if (strcmp(line, "@result SUCCESS") == 0 || strcmp(line, "@result FAILURE") == 0)
    {
        fakeResult = (line[8] == 'S') ? SYS_OTA_SUCCESS : SYS_OTA_FAILURE;
        return true;
    }
    if (strcmp(line, "@init") == 0)
    {
        if (!OTACTL_Initialize())
        {
            FakeMsg(NULL, "FAKE: OTACTL_Initialize failed\n");
        }
        return true;
    }
    if (strcmp(line, "@banner") == 0)
    {
        OTACTL_PrintBanner();
        return true;
    }
    return false;
}

int main(void)
{
    static char line[FAKE_LINE];
    static char hex[2 * sizeof(fakeOut) + 1];

    while (fgets(line, sizeof(line), stdin) != NULL)
    {
        size_t n = strlen(line);
        if (n > 0 && line[n - 1] == '\n')
        {
            line[--n] = '\0';
        }
        fakeOutLen = 0;
        fakeCallsLen = 0;
        if (line[0] == '@')
        {
            if (!FakeDirective(line))
            {
                fprintf(stderr, "fake runtime: bad directive: %s\n", line);
                return 2;
            }
        }
        else
        {
            FakeRun(line);
        }
        fakeOut[fakeOutLen] = '\0';
        FakeHex(hex, fakeOut);
        printf("OUT %s\n", hex);
        fwrite(fakeCalls, 1, fakeCallsLen, stdout);
        printf("END\n");
    }
    return 0;
}
