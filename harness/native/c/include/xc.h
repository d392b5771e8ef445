/* Host stand-in for XC32's <xc.h>, part of otaloop's native-bootloader shim layer.
 *
 * On the PIC32 the special function registers are memory-mapped. On the host each register the
 * compiled Harmony code names is a plain volatile variable (defined in otaloop_peripherals.c); the
 * registers whose access has an effect are functions: reading RSWRST after the unlock sequence and
 * RSWRSTSET = SWRST performs the software reset, as on the part. Nothing here is Microchip's text:
 * it declares the names the bootloader's sources use, with the meaning the data sheet gives them.
 */
#ifndef OTALOOP_XC_H
#define OTALOOP_XC_H

#include <stdint.h>
#include "otaloop_host.h"

#define __XC32 1
#define __PIC32MZ 1
#define __PIC32MZW 1

extern volatile uint32_t SYSKEY;
extern volatile uint32_t RSWRSTSET;
extern volatile uint32_t RCON;
extern volatile uint32_t PRISS;
extern volatile uint32_t CFGCON;
extern volatile uint32_t NVMCON;
extern volatile uint32_t NVMKEY;
extern volatile uint32_t NVMADDR;
#define RSWRST (otaloop_rswrst_read())
#define _RSWRST_SWRST_MASK 0x00000001u

/* Input pins: reading PORTx samples the board's inputs (SWITCH1 is RA10, low while pressed, as the
 * Curiosity board's BSP reads it: ((PORTA >> 10) & 0x1U)). Unconnected pins read 1. */
uint32_t otaloop_port_read(uint32_t port);
#define PORTA (otaloop_port_read(0u))
#define PORTB (otaloop_port_read(1u))
#define PORTC (otaloop_port_read(2u))
#define PORTK (otaloop_port_read(3u))

typedef struct {
    uint32_t PFMWS : 3;
    uint32_t : 1;
    uint32_t PREFEN : 2;
    uint32_t : 26;
} otaloop_precon_bits;
extern volatile otaloop_precon_bits PRECONbits;
extern volatile uint32_t PRECON;

/* Interrupt vector numbers the generated EVIC code and the bootloader name (values are the vector
 * numbers of the PIC32MZ W1 family; the host only compares them). */
#define _CORE_TIMER_VECTOR 0
#define _FLASH_CONTROL_VECTOR 28
#define _SPI1_FAULT_VECTOR 37
#define _SPI1_RX_VECTOR 38
#define _SPI1_TX_VECTOR 39
#define _UART1_FAULT_VECTOR 40
#define _UART1_RX_VECTOR 41
#define _UART1_TX_VECTOR 42

#define Nop() ((void)0)
#define _nop() ((void)0)
#define _wait() ((void)0)

#endif
