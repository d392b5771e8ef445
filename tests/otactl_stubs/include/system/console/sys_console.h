/* Stub of the console service: the print macro the banner uses. */
#ifndef OTACTL_STUB_SYS_CONSOLE_H
#define OTACTL_STUB_SYS_CONSOLE_H

void FAKE_ConsolePrint(const char *format, ...);

#define SYS_CONSOLE_PRINT(...) FAKE_ConsolePrint(__VA_ARGS__)

#endif
