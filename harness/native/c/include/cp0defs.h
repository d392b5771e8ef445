/* Host stand-in for XC32's <cp0defs.h> (otaloop native shim layer): coprocessor 0 reads give 0. */
#ifndef OTALOOP_CP0DEFS_H
#define OTALOOP_CP0DEFS_H
#define _CP0_GET_COUNT() 0u
#define _CP0_SET_COUNT(v) ((void)(v))
#define _CP0_GET_CONFIG() 0u
#define _CP0_GET_CONFIG1() 0u
#define _CP0_GET_STATUS() 0u
#define _CP0_SET_STATUS(v) ((void)(v))
#endif
