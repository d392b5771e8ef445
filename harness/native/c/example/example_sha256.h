/* otaloop example bootloader: SHA-256. */
#ifndef EXAMPLE_SHA256_H
#define EXAMPLE_SHA256_H
#include <stddef.h>
#include <stdint.h>
typedef struct {
    uint32_t h[8];
    uint64_t length;
    uint8_t buf[64];
    uint32_t used;
} example_sha256;
void example_sha256_init(example_sha256 *s);
void example_sha256_add(example_sha256 *s, const uint8_t *data, size_t n);
void example_sha256_final(example_sha256 *s, uint8_t out[32]);
#endif
