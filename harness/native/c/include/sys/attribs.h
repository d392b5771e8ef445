/* Host stand-in for XC32's <sys/attribs.h> (otaloop native shim layer): interrupt attributes vanish. */
#ifndef OTALOOP_SYS_ATTRIBS_H
#define OTALOOP_SYS_ATTRIBS_H
#define __ISR(...)
#define __ISR_AT_VECTOR(...)
#define IPL1SOFT
#define IPL2SOFT
#define IPL3SOFT
#define IPL4SOFT
#define IPL5SOFT
#define IPL6SOFT
#define IPL7SOFT
#define IPL1SRS
#define IPL7SRS
#define IPL1AUTO
#define IPL7AUTO
#define __longramfunc__
#define __ramfunc__
#endif
