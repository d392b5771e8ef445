/* otaloop's driver for Harmony's cJSON on the host: parse documents with OTA_cJSON_Parse and print the
 * tree it built, one line per document, in the form harness/native/cjson.py prints the model's tree.
 *
 * Input on stdin: documents, each a 4-byte little-endian length and that many bytes. The bytes are handed
 * to the parser as the C string the OTA service gives it (a NUL is added after them; an earlier NUL ends
 * the text, as in the service's receive buffer).
 *
 * Output per document: "NULL" when the parse failed, else the value:
 *   null | false | true | num:<valuedouble as %.17g>:<valueint> | str:<hex of the bytes>
 *   | arr[<value>,...] | obj{<hex of the name>=<value>,...}
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson.h>

static void hex(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        printf("%02x", *p);
    }
}

static void dump(const cJSON *item)
{
    switch (item->type & 0xFF) {
    case cJSON_NULL:
        fputs("null", stdout);
        break;
    case cJSON_False:
        fputs("false", stdout);
        break;
    case cJSON_True:
        fputs("true", stdout);
        break;
    case cJSON_Number:
        printf("num:%.17g:%d", item->valuedouble, item->valueint);
        break;
    case cJSON_String:
        fputs("str:", stdout);
        hex(item->valuestring ? item->valuestring : "");
        break;
    case cJSON_Array:
    case cJSON_Object: {
        int object = (item->type & 0xFF) == cJSON_Object;
        fputs(object ? "obj{" : "arr[", stdout);
        for (const cJSON *child = item->child; child; child = child->next) {
            if (child != item->child) {
                putchar(',');
            }
            if (object) {
                hex(child->string ? child->string : "");
                putchar('=');
            }
            dump(child);
        }
        putchar(object ? '}' : ']');
        break;
    }
    default:
        printf("type:%d", item->type);
    }
}

int main(void)
{
    unsigned char head[4];
    while (fread(head, 1, 4, stdin) == 4) {
        size_t n = (size_t)head[0] | (size_t)head[1] << 8 | (size_t)head[2] << 16 | (size_t)head[3] << 24;
        char *text = malloc(n + 1);
        if (text == NULL || fread(text, 1, n, stdin) != n) {
            fputs("otaloop_cjson_dump: short input\n", stderr);
            return 2;
        }
        text[n] = '\0';
        cJSON *tree = OTA_cJSON_Parse(text);
        if (tree == NULL) {
            fputs("NULL", stdout);
        } else {
            dump(tree);
            OTA_cJSON_Delete(tree);
        }
        putchar('\n');
        fflush(stdout);
        free(text);
    }
    return 0;
}
