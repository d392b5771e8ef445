/* otaloop host shim: the one thing Harmony's cjson.c takes from the generated definitions.h is OSAL's heap. */
#ifndef OTALOOP_CJSON_DEFINITIONS_H
#define OTALOOP_CJSON_DEFINITIONS_H
#include <stdlib.h>
#define OSAL_Malloc(size) malloc(size)
#define OSAL_Free(pointer) free(pointer)
#endif
