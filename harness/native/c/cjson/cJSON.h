/* otaloop host shim: cjson.c includes "cJSON.h" while the header in Harmony's tree is cjson.h, which a
 * case-insensitive file system finds and Linux does not. */
#include <cjson.h>
