/* otaloop native shim layer: what Harmony's wifi_ota_app_upgrade application needs around its OTA service.
 *
 * Compiled against the user's own configuration headers (definitions.h of pic32mz_w1_curiosity_freertos), so
 * every type is Harmony's; the code is otaloop's own. It replaces, for one single-threaded helper:
 *  - tasks.c's FreeRTOS tasks: SYS_Tasks() runs the bodies of SYS_CMD, SYS_FS, DRV_MEMORY, the OTA service
 *    and the application in turn, once per main-loop pass, and delivers the RTCC alarm and the TMR2 tick (1 ms) on
 *    the board's clock;
 *  - OSAL: malloc/free, semaphores and mutexes that are never contended (one thread);
 *  - the network: the Wi-Fi interface "PIC32MZW1" has an address once the board's network is up; DNS and
 *    NET_PRES stream sockets are the host's own non-blocking TCP sockets behind the board's policy
 *    (otaloop_net.c: loopback only unless the board is open; names resolve through the same check);
 *  - SYS_CONSOLE and SYS_DEBUG on the board's console and its typed bytes (Harmony's own command processor,
 *    sys_command.c, runs on them);
 *  - RTCC time and alarm, SYS_TMR, CORETIMER, TMR2, the RNG, caches, and the initializers of everything
 *    not run (Wi-Fi driver, TCP/IP stack, crypto engine), as no-ops;
 *  - g_SysOtaConfig's version, SYS_OTA_URL and MHC options, set from the running image's app descriptor
 *    after SYS_Initialize (SYS_OTA_NUM_IMGS stays the compiled value).
 */
#ifdef OTALOOP_MEMCHECK
#include <valgrind/memcheck.h>
#endif
#include <arpa/inet.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "definitions.h"
#include "otaloop_app.h"

extern SYSTEM_OBJECTS sysObj;
extern SYS_OTA_Config g_SysOtaConfig;
void SYS_Initialize(void *data);

/* --------------------------------------------------------------------------------------- the tasks */
static RTCC_CALLBACK rtcc_cb;
static uintptr_t rtcc_ctx;
static uint64_t rtcc_alarm_us; /* 0: no alarm armed */
static TMR_CALLBACK tmr2_cb;
static uintptr_t tmr2_ctx;
static bool tmr2_running;
static uint32_t tmr2_ms;

void otaloop_harmony_start(void) {
    const OTALOOP_APP_INFO *info = otaloop_app_info();
    g_SysOtaConfig.app_version = info->version;
    g_SysOtaConfig.json_url = (char *)info->manifest_url;
    g_SysOtaConfig.ota_periodic_check = info->periodic_check;
    g_SysOtaConfig.ota_auto_update = info->auto_update;
    g_SysOtaConfig.autoreset = info->autoreset;
    g_SysOtaConfig.periodic_check_interval = info->interval_s;
}

void SYS_Tasks(void) {
    uint32_t now = otaloop_time_ms();
    if (tmr2_running && tmr2_cb) {
        while (tmr2_ms < now) {
            tmr2_ms++;
            tmr2_cb(0, tmr2_ctx);
        }
    }
    if (rtcc_alarm_us && otaloop_time_us() >= rtcc_alarm_us) {
        rtcc_alarm_us = 0;
        if (rtcc_cb) rtcc_cb(rtcc_ctx);
    }
    SYS_CMD_Tasks();
    SYS_FS_Tasks();
    DRV_MEMORY_Tasks(sysObj.drvMemory0);
    SYS_OTA_Tasks();
    APP_Tasks();
}

/* -------------------------------------------------------------------------------------------- OSAL */
void *OSAL_Malloc(size_t size) {
    void *p = malloc(size);
#ifdef OTALOOP_MEMCHECK
    /* A new block holds whatever the heap held (glibc's own allocator, in a static build, is not one
     * memcheck replaces): to memcheck its bytes are undefined, as the part's heap would leave them. */
    if (p != NULL) VALGRIND_MAKE_MEM_UNDEFINED(p, size);
#endif
    return p;
}
void OSAL_Free(void *pData) { free(pData); }
OSAL_RESULT OSAL_SEM_Create(OSAL_SEM_HANDLE_TYPE *semID, OSAL_SEM_TYPE type, uint8_t maxCount, uint8_t initialCount) {
    (void)type, (void)maxCount, (void)initialCount;
    *semID = (OSAL_SEM_HANDLE_TYPE)1;
    return OSAL_RESULT_TRUE;
}
OSAL_RESULT OSAL_SEM_Pend(OSAL_SEM_HANDLE_TYPE *semID, uint16_t waitMS) {
    (void)semID, (void)waitMS;
    return OSAL_RESULT_TRUE; /* one thread: never contended */
}
OSAL_RESULT OSAL_SEM_Post(OSAL_SEM_HANDLE_TYPE *semID) {
    (void)semID;
    return OSAL_RESULT_TRUE;
}
OSAL_RESULT OSAL_MUTEX_Create(OSAL_MUTEX_HANDLE_TYPE *mutexID) {
    *mutexID = (OSAL_MUTEX_HANDLE_TYPE)1;
    return OSAL_RESULT_TRUE;
}
OSAL_RESULT OSAL_MUTEX_Lock(OSAL_MUTEX_HANDLE_TYPE *mutexID, uint16_t waitMS) {
    (void)mutexID, (void)waitMS;
    return OSAL_RESULT_TRUE;
}
OSAL_RESULT OSAL_MUTEX_Unlock(OSAL_MUTEX_HANDLE_TYPE *mutexID) {
    (void)mutexID;
    return OSAL_RESULT_TRUE;
}
OSAL_CRITSECT_DATA_TYPE OSAL_CRIT_Enter(OSAL_CRIT_TYPE severity) {
    (void)severity;
    return 0;
}
void OSAL_CRIT_Leave(OSAL_CRIT_TYPE severity, OSAL_CRITSECT_DATA_TYPE status) { (void)severity, (void)status; }

/* ------------------------------------------------------------------------------ console and debug */
const SYS_CONSOLE_DEV_DESC sysConsoleUARTDevDesc;
SYS_MODULE_OBJ SYS_CONSOLE_Initialize(const SYS_MODULE_INDEX index, const SYS_MODULE_INIT *const init) {
    (void)index, (void)init;
    return (SYS_MODULE_OBJ)1;
}
void SYS_CONSOLE_Print(const SYS_CONSOLE_HANDLE handle, const char *format, ...) {
    (void)handle;
    char text[256]; /* SYS_CONSOLE_PRINT_BUFFER_SIZE: longer prints are cut, as on the board */
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(text, sizeof text, format, ap);
    va_end(ap);
    if (n > 0) otaloop_console_write(text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}
void SYS_CONSOLE_Message(const SYS_CONSOLE_HANDLE handle, const char *message) {
    (void)handle;
    otaloop_console_write(message, strlen(message));
}
SYS_MODULE_OBJ SYS_DEBUG_Initialize(const SYS_MODULE_INDEX index, const SYS_MODULE_INIT *const init) {
    (void)index, (void)init;
    return (SYS_MODULE_OBJ)1;
}
SYS_MODULE_INDEX SYS_DEBUG_ConsoleInstanceGet(void) { return 0; }
SYS_ERROR_LEVEL SYS_DEBUG_ErrorLevelGet(void) { return SYS_ERROR_ERROR; }
/* The console's UART for Harmony's command processor (sys_command.c, compiled from the configuration):
 * typed bytes come with the host's GO record, output goes to the board's console. */
SYS_STATUS SYS_CONSOLE_Status(SYS_MODULE_OBJ object) {
    (void)object;
    return SYS_STATUS_READY;
}
ssize_t SYS_CONSOLE_ReadCountGet(const SYS_CONSOLE_HANDLE handle) {
    (void)handle;
    return (ssize_t)otaloop_uart_pending();
}
ssize_t SYS_CONSOLE_Read(const SYS_CONSOLE_HANDLE handle, void *buf, size_t count) {
    (void)handle;
    return (ssize_t)otaloop_uart_read(buf, count);
}
ssize_t SYS_CONSOLE_Write(const SYS_CONSOLE_HANDLE handle, const void *buf, size_t count) {
    (void)handle;
    otaloop_console_write(buf, count);
    return (ssize_t)count;
}

/* ------------------------------------------------------------------------------------ time sources */
uint32_t SYS_TMR_TickCountGet(void) { return otaloop_time_ms(); }
uint32_t SYS_TMR_TickCounterFrequencyGet(void) { return 1000u; }
SYS_MODULE_OBJ SYS_TIME_Initialize(const SYS_MODULE_INDEX index, const SYS_MODULE_INIT *const init) {
    (void)index, (void)init;
    return (SYS_MODULE_OBJ)1;
}
void TMR2_Initialize(void) {}
void TMR2_CallbackRegister(TMR_CALLBACK callback_fn, uintptr_t context) {
    tmr2_cb = callback_fn;
    tmr2_ctx = context;
}
void TMR2_Start(void) {
    tmr2_running = true;
    tmr2_ms = otaloop_time_ms();
}
void CORETIMER_Initialize(void) {}
void CORETIMER_CallbackSet(CORETIMER_CALLBACK callback, uintptr_t context) { (void)callback, (void)context; }
void CORETIMER_CompareSet(uint32_t compare) { (void)compare; }
uint32_t CORETIMER_CounterGet(void) { return (uint32_t)(otaloop_time_us() * 100u); }
uint32_t CORETIMER_FrequencyGet(void) { return 100000000u; }
void CORETIMER_Start(void) {}
void CORETIMER_Stop(void) {}

/* The RTCC: a calendar that starts where it is set and runs on board time; the alarm the service arms
 * (hours, minutes and seconds after 01-01-2019 00:00:00, one day after its 31-12-2018 23:59:58 start)
 * fires once at that board time. */
static struct tm rtcc_base;
static uint64_t rtcc_set_us;
void RTCC_Initialize(void) {}
bool RTCC_TimeSet(struct tm *Time) {
    rtcc_base = *Time;
    rtcc_set_us = otaloop_time_us();
    return true;
}
void RTCC_TimeGet(struct tm *Time) {
    struct tm t = rtcc_base;
    t.tm_sec += (int)((otaloop_time_us() - rtcc_set_us) / 1000000u);
    *Time = t; /* fields may run past 59: only the alarm arithmetic below depends on them */
}
bool RTCC_AlarmSet(struct tm *alarmTime, RTCC_ALARM_MASK alarmFreq) {
    (void)alarmFreq;
    long base = rtcc_base.tm_hour * 3600L + rtcc_base.tm_min * 60L + rtcc_base.tm_sec;
    long at = alarmTime->tm_hour * 3600L + alarmTime->tm_min * 60L + alarmTime->tm_sec;
    long delta = at - base;
    if (delta <= 0) delta += 24L * 3600L;
    rtcc_alarm_us = rtcc_set_us + (uint64_t)delta * 1000000u;
    return true;
}
void RTCC_CallbackRegister(RTCC_CALLBACK callback, uintptr_t context) {
    rtcc_cb = callback;
    rtcc_ctx = context;
}

/* ----------------------------------------------------------------------------- RNG, caches, drivers */
void RNG_Initialize(void) {}
int CRYPT_RNG_Initialize(CRYPT_RNG_CTX *rng) {
    (void)rng;
    return 0;
}
int CRYPT_RNG_BlockGenerate(CRYPT_RNG_CTX *rng, unsigned char *b, unsigned int sz) {
    (void)rng;
    for (unsigned int i = 0; i < sz; i++) b[i] = (unsigned char)(0x5Au + i); /* fixed: runs repeat */
    return 0;
}
void CACHE_CacheFlush(void) {}
void CACHE_CacheCoherencySet(CACHE_COHERENCY cacheCoherency) { (void)cacheCoherency; }
CACHE_COHERENCY CACHE_CacheCoherencyGet(void) { return (CACHE_COHERENCY)0; }
void SYS_CACHE_CleanDCache_by_Addr(void *addr, int32_t size) { (void)addr, (void)size; }
void SYS_CACHE_InvalidateDCache_by_Addr(void *addr, int32_t size) { (void)addr, (void)size; }
SYS_MODULE_OBJ SYS_WIFI_Initialize(SYS_WIFI_CONFIG *config, SYS_WIFI_CALLBACK callback, void *cookie) {
    (void)config, (void)callback, (void)cookie;
    return (SYS_MODULE_OBJ)1;
}
int32_t SYS_NET_Initialize() { return 0; }

/* ----------------------------------------------------------------------------------- the network */
SYS_MODULE_OBJ NET_PRES_Initialize(const SYS_MODULE_INDEX index, const SYS_MODULE_INIT *const init) {
    (void)index, (void)init;
    return (SYS_MODULE_OBJ)1;
}

TCPIP_NET_HANDLE TCPIP_STACK_NetHandleGet(const char *interface) {
    (void)interface;
    return (TCPIP_NET_HANDLE)1;
}

/* The station's address once the board's network is up (the Wi-Fi link and DHCP as one fact). */
uint32_t TCPIP_STACK_NetAddress(TCPIP_NET_HANDLE netH) {
    (void)netH;
    return otaloop_network_up() ? 0x0A01A8C0u : 0u; /* 192.168.1.10 */
}

bool TCPIP_Helper_StringToIPAddress(const char *str, IPV4_ADDR *IPAddress) {
    struct in_addr a;
    if (str == NULL || inet_pton(AF_INET, str, &a) != 1) return false;
    IPAddress->Val = a.s_addr;
    return true;
}

static char dns_name[128];
static uint32_t dns_address;
static TCPIP_DNS_RESULT dns_result = TCPIP_DNS_RES_NO_NAME_ENTRY;

TCPIP_DNS_RESULT TCPIP_DNS_Resolve(const char *hostName, TCPIP_DNS_RESOLVE_TYPE type) {
    (void)type;
    struct in_addr a;
    if (inet_pton(AF_INET, hostName, &a) == 1) return TCPIP_DNS_RES_NAME_IS_IPADDRESS;
    snprintf(dns_name, sizeof dns_name, "%s", hostName);
    struct addrinfo hints, *found = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    /* through the board's policy (otaloop_net.c): a name other than localhost is refused, no query sent */
    if (getaddrinfo(hostName, NULL, &hints, &found) == 0 && found != NULL) {
        dns_address = ((struct sockaddr_in *)found->ai_addr)->sin_addr.s_addr;
        dns_result = TCPIP_DNS_RES_OK;
        freeaddrinfo(found);
    } else {
        dns_result = TCPIP_DNS_RES_SERVER_TMO;
    }
    otaloop_mark_active();
    return TCPIP_DNS_RES_PENDING;
}

TCPIP_DNS_RESULT TCPIP_DNS_IsResolved(const char *hostName, IP_MULTI_ADDRESS *hostIP, IP_ADDRESS_TYPE type) {
    (void)type;
    if (strcmp(hostName, dns_name) != 0) return TCPIP_DNS_RES_NO_NAME_ENTRY;
    if (dns_result == TCPIP_DNS_RES_OK) hostIP->v4Add.Val = dns_address;
    return dns_result;
}

#define MAX_SOCKETS 8
static struct {
    int fd;
    NET_PRES_SIGNAL_FUNCTION handler;
    const void *param;
} sockets[MAX_SOCKETS + 1];

static int socket_fd(NET_PRES_SKT_HANDLE_T handle) {
    return handle > 0 && handle <= MAX_SOCKETS ? sockets[handle].fd : -1;
}

NET_PRES_SKT_HANDLE_T NET_PRES_SocketOpen(NET_PRES_INDEX index, NET_PRES_SKT_T socketType,
                                          NET_PRES_SKT_ADDR_T addrType, NET_PRES_SKT_PORT_T port,
                                          NET_PRES_ADDRESS *addr, NET_PRES_SKT_ERROR_T *error) {
    (void)index, (void)addrType;
    if (error) *error = NET_PRES_SKT_OK;
    if ((socketType & NET_PRES_SKT_ENCRYPTED) || addr == NULL) { /* no TLS on the virtual board */
        if (error) *error = NET_PRES_SKT_UNKNOWN_ERROR;
        return NET_PRES_INVALID_SOCKET;
    }
    int slot = 1;
    while (slot <= MAX_SOCKETS && sockets[slot].fd > 0) slot++;
    if (slot > MAX_SOCKETS) {
        if (error) *error = NET_PRES_SKT_UNKNOWN_ERROR;
        return NET_PRES_INVALID_SOCKET;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return NET_PRES_INVALID_SOCKET;
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    memcpy(&to.sin_addr.s_addr, addr->addr, 4); /* IP_MULTI_ADDRESS: the IPv4 address first */
    /* an address the board may not reach fails here (otaloop_net.c) and stays unconnected, as a SYN
     * nobody answers leaves a socket on the board */
    if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0 && errno != EINPROGRESS) {
        close(fd);
        fd = -2;
    }
    sockets[slot].fd = fd;
    sockets[slot].handler = NULL;
    otaloop_mark_active();
    return (NET_PRES_SKT_HANDLE_T)slot;
}

bool NET_PRES_SocketIsConnected(NET_PRES_SKT_HANDLE_T handle) {
    int fd = socket_fd(handle);
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, 0) <= 0) {
        otaloop_wait_socket(fd, true);
        return false;
    }
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    return err == 0 && (p.revents & POLLOUT);
}

bool NET_PRES_SocketIsSecure(NET_PRES_SKT_HANDLE_T handle) { return (void)handle, false; }
bool NET_PRES_SocketIsNegotiatingEncryption(NET_PRES_SKT_HANDLE_T handle) { return (void)handle, false; }
bool NET_PRES_SocketWasReset(NET_PRES_SKT_HANDLE_T handle) { return (void)handle, false; }

uint16_t NET_PRES_SocketWriteIsReady(NET_PRES_SKT_HANDLE_T handle, uint16_t reqSize, uint16_t minSize) {
    (void)minSize;
    int fd = socket_fd(handle);
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & POLLOUT) ? reqSize : 0;
}

uint16_t NET_PRES_SocketWrite(NET_PRES_SKT_HANDLE_T handle, const void *buffer, uint16_t size) {
    int fd = socket_fd(handle);
    ssize_t n = fd >= 0 ? send(fd, buffer, size, MSG_NOSIGNAL) : -1;
    if (n > 0) otaloop_mark_active();
    return n > 0 ? (uint16_t)n : 0;
}

uint16_t NET_PRES_SocketReadIsReady(NET_PRES_SKT_HANDLE_T handle) {
    int fd = socket_fd(handle);
    if (fd < 0) return 0;
    uint8_t probe[1];
    ssize_t n = recv(fd, probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && errno == ECONNRESET && sockets[handle].handler)
        sockets[handle].handler(handle, (NET_PRES_SIGNAL_HANDLE)&sockets[handle], TCPIP_TCP_SIGNAL_RX_RST,
                                sockets[handle].param);
    if (n <= 0) {
        if (n < 0) otaloop_wait_socket(fd, false);
        return 0;
    }
    int avail = 0;
    ioctl(fd, FIONREAD, &avail);
    return avail > 0xFFFF ? 0xFFFFu : (uint16_t)avail;
}

uint16_t NET_PRES_SocketRead(NET_PRES_SKT_HANDLE_T handle, void *buffer, uint16_t size) {
    int fd = socket_fd(handle);
    ssize_t n = fd >= 0 ? recv(fd, buffer, size, MSG_DONTWAIT) : -1;
    if (n > 0) otaloop_mark_active();
    return n > 0 ? (uint16_t)n : 0;
}

bool NET_PRES_SocketOptionsSet(NET_PRES_SKT_HANDLE_T handle, NET_PRES_SKT_OPTION_TYPE option, void *optParam) {
    (void)handle, (void)option, (void)optParam;
    return true;
}

bool NET_PRES_SocketOptionsGet(NET_PRES_SKT_HANDLE_T handle, NET_PRES_SKT_OPTION_TYPE option, void *optParam) {
    (void)handle, (void)option, (void)optParam;
    return true; /* the caller's default stays */
}

NET_PRES_SIGNAL_HANDLE NET_PRES_SocketSignalHandlerRegister(NET_PRES_SKT_HANDLE_T handle, uint16_t sigMask,
                                                            NET_PRES_SIGNAL_FUNCTION handler, const void *hParam) {
    (void)sigMask;
    if (handle <= 0 || handle > MAX_SOCKETS) return NULL;
    sockets[handle].handler = handler;
    sockets[handle].param = hParam;
    return (NET_PRES_SIGNAL_HANDLE)&sockets[handle];
}

bool NET_PRES_SocketSignalHandlerDeregister(NET_PRES_SKT_HANDLE_T handle, NET_PRES_SIGNAL_HANDLE hSig) {
    (void)hSig;
    if (handle <= 0 || handle > MAX_SOCKETS) return false;
    sockets[handle].handler = NULL;
    return true;
}

void NET_PRES_SocketClose(NET_PRES_SKT_HANDLE_T handle) {
    if (handle <= 0 || handle > MAX_SOCKETS) return;
    if (sockets[handle].fd > 0) close(sockets[handle].fd);
    sockets[handle].fd = 0;
    sockets[handle].handler = NULL;
}

/* UART1's ring-buffer counters, named by the console's UART device table (the console is shimmed above). */
size_t UART1_ReadCountGet(void) { return 0; }
size_t UART1_WriteCountGet(void) { return 0; }
size_t UART1_ReadFreeBufferCountGet(void) { return 0; }
size_t UART1_WriteFreeBufferCountGet(void) { return 1024; }
