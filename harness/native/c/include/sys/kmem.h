/* Host stand-in for XC32's <sys/kmem.h> (otaloop native shim layer): MIPS kernel segment arithmetic. */
#ifndef OTALOOP_SYS_KMEM_H
#define OTALOOP_SYS_KMEM_H
#include <stdint.h>
#define KVA_TO_PA(v) ((uint32_t)(uintptr_t)(v) & 0x1fffffffu)
#define PA_TO_KVA0(pa) ((uint32_t)(pa) | 0x80000000u)
#define PA_TO_KVA1(pa) ((uint32_t)(pa) | 0xa0000000u)
#define KVA0_TO_KVA1(v) ((uint32_t)(uintptr_t)(v) | 0x20000000u)
#define KVA1_TO_KVA0(v) ((uint32_t)(uintptr_t)(v) & ~0x20000000u)
#define IS_KVA(v) (((uint32_t)(uintptr_t)(v)) >= 0x80000000u)
#define IS_KVA0(v) ((((uint32_t)(uintptr_t)(v)) & 0xe0000000u) == 0x80000000u)
#define IS_KVA1(v) ((((uint32_t)(uintptr_t)(v)) & 0xe0000000u) == 0xa0000000u)
#endif
