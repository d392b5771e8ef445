/* otaloop native shim layer: names Harmony's initialization.c only takes the address of.
 *
 * initialization.c fills NET_PRES's socket function tables with the TCP/IP stack's functions and names the
 * Wi-Fi driver's MAC object and the TLS provider; with NET_PRES replaced (otaloop_harmony_app.c) none of them
 * is ever called or read, so they are defined here, without Harmony's headers, only for the link. Calling one
 * would be a bug in the shim layer: each ends the helper with a message. It is otaloop's own code.
 */
#include <stdio.h>
#include <stdlib.h>

#define UNUSED_FN(name)                                                                          \
    void name(void);                                                                             \
    void name(void) {                                                                            \
        fprintf(stderr, "otaloop: %s called: the TCP/IP stack is not run on the host\n", #name); \
        abort();                                                                                 \
    }

UNUSED_FN(TCPIP_TCP_ArrayGet)
UNUSED_FN(TCPIP_TCP_ArrayPeek)
UNUSED_FN(TCPIP_TCP_ArrayPut)
UNUSED_FN(TCPIP_TCP_Bind)
UNUSED_FN(TCPIP_TCP_ClientOpen)
UNUSED_FN(TCPIP_TCP_Close)
UNUSED_FN(TCPIP_TCP_Connect)
UNUSED_FN(TCPIP_TCP_Discard)
UNUSED_FN(TCPIP_TCP_Disconnect)
UNUSED_FN(TCPIP_TCP_Flush)
UNUSED_FN(TCPIP_TCP_GetIsReady)
UNUSED_FN(TCPIP_TCP_IsConnected)
UNUSED_FN(TCPIP_TCP_OptionsGet)
UNUSED_FN(TCPIP_TCP_OptionsSet)
UNUSED_FN(TCPIP_TCP_PutIsReady)
UNUSED_FN(TCPIP_TCP_RemoteBind)
UNUSED_FN(TCPIP_TCP_ServerOpen)
UNUSED_FN(TCPIP_TCP_SignalHandlerDeregister)
UNUSED_FN(TCPIP_TCP_SignalHandlerRegister)
UNUSED_FN(TCPIP_TCP_SocketInfoGet)
UNUSED_FN(TCPIP_TCP_WasDisconnected)
UNUSED_FN(TCPIP_TCP_WasReset)
UNUSED_FN(TCPIP_UDP_ArrayGet)
UNUSED_FN(TCPIP_UDP_ArrayPut)
UNUSED_FN(TCPIP_UDP_Bind)
UNUSED_FN(TCPIP_UDP_ClientOpen)
UNUSED_FN(TCPIP_UDP_Close)
UNUSED_FN(TCPIP_UDP_Discard)
UNUSED_FN(TCPIP_UDP_Disconnect)
UNUSED_FN(TCPIP_UDP_Flush)
UNUSED_FN(TCPIP_UDP_GetIsReady)
UNUSED_FN(TCPIP_UDP_IsConnected)
UNUSED_FN(TCPIP_UDP_OptionsGet)
UNUSED_FN(TCPIP_UDP_OptionsSet)
UNUSED_FN(TCPIP_UDP_PutIsReady)
UNUSED_FN(TCPIP_UDP_RemoteBind)
UNUSED_FN(TCPIP_UDP_ServerOpen)
UNUSED_FN(TCPIP_UDP_SignalHandlerDeregister)
UNUSED_FN(TCPIP_UDP_SignalHandlerRegister)
UNUSED_FN(TCPIP_UDP_SocketInfoGet)
UNUSED_FN(TCPIP_Helper_TCPSecurePortGet)
UNUSED_FN(TCPIP_Helper_UDPSecurePortGet)

/* Initializers of what does not run on the host: the TCP/IP stack, the Wi-Fi driver, the crypto engine. */
#define NOOP_INIT(name) \
    void *name(void);   \
    void *name(void) { return (void *)1; }
NOOP_INIT(TCPIP_STACK_Initialize)
NOOP_INIT(WDRV_PIC32MZW_Initialize)
NOOP_INIT(DRV_BA414E_Initialize)

/* Objects only named in initialization.c's tables. */
const char WDRV_PIC32MZW1_MACObject[256];
const char net_pres_EncProviderStreamClient0[256];
