/* otaloop example application: a small OTA system service in C behind Harmony's API names.
 *
 * It follows Harmony v3.9.1's service on its main paths (spec sections 1.4-1.6) so a user's app.c and
 * app_ota.c edits run against it on the virtual board: the boot-time confirm step (DB row and boot control
 * set to F8 for a production image), the network wait, the periodic or triggered manifest check over HTTP
 * (GET with Content-Length, the last "ota" entry's Version/URL/Digest), the download to
 * /mnt/myDrive1/ota/<file> in 4 KiB writes, the SHA-256 check, the image_database.csv row (status fe) and
 * boot control F0 with the new version, the callback events and their console lines, autoreset, factory
 * reset and system reset on control messages. Its configuration (version, SYS_OTA_URL, periodic check,
 * interval, auto update, autoreset, SYS_OTA_NUM_IMGS) comes from the running image's app descriptor.
 *
 * It is otaloop's own code, not Harmony's: no clean-up of stale .bin files at boot, no rollback, no
 * EraseVer, no patch or secure modes, and none of Harmony's quirks (csv seek wrap, the stale check result).
 *
 * Three things are planted for otaloop's own tests of `--sanitize` and `--coverage` on application builds:
 * json_url copies the manifest's URL as Harmony's SYS_OTA_ParseJsonContent does (memcpy of the whole
 * string, no bounds check), so a URL of 100 bytes or more overflows the 100-byte url[] on the stack (a
 * stack-buffer-overflow for AddressSanitizer; undefined behaviour without it); parse_manifest counts
 * a server version of 0 or below in a branch no scenario of otaloop's library reaches; and, for
 * `--sanitize memcheck`, parse_manifest counts the server version's decimal digits through a helper that
 * sets the count only for versions up to 999, then tests it: a manifest offering a version above 999
 * reads an uninitialised stack variable (its outcome changes nothing anyone observes).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "definitions.h"
#include "example_sha256.h"

#define OTA_DIR "/mnt/myDrive1/ota"
#define DB_FILE OTA_DIR "/image_database.csv"
#define BOOT_CTL_PHYS 0x10020000u
#define CHUNK 4096u
#define JSON_MAX 1990u
#define NET_TIMEOUT_MS 30000u
#define DB_MAX 2048u

typedef enum {
    S_INIT,
    S_WAIT_NETWORK,
    S_WAIT_TIMER,
    S_IDLE,
    S_CHECK,
    S_CHECKING,
    S_TRIGGER,
    S_DOWNLOADING,
    S_VERIFY,
    S_DB_ENTRY,
    S_FACTORY_RESET,
    S_SYSTEM_RESET
} state_t;

typedef enum { H_IDLE, H_CONNECTING, H_HEADERS, H_BODY, H_DONE, H_FAILED } http_state;

static struct {
    state_t state;
    SYS_OTA_CALLBACK cb;
    bool periodic;
    uint32_t timer_ms;
    bool download_success;
    OTA_PARAMS params;
    char image_path[160];
    /* the HTTP transfer */
    http_state http;
    int fd;
    bool to_file;
    SYS_FS_HANDLE file;
    char head[1024];
    uint32_t head_len;
    uint32_t content_length, received;
    uint8_t body[CHUNK];
    uint32_t body_len;
    uint32_t last_progress_ms;
    /* the verify */
    example_sha256 sha;
    uint32_t bad_versions; /* manifests whose version is 0 or below (the planted rare branch) */
    uint32_t long_versions; /* manifests whose version has more than 3 digits (the planted uninitialised read) */
} ota;

static void notify(SYS_OTA_STATUS event) {
    if (ota.cb) ota.cb((uint32_t)event, NULL, NULL);
}

/* ------------------------------------------------------------------------------------------ HTTP */
static bool split_url(const char *url, char *host, size_t host_size, uint16_t *port, const char **path) {
    if (strncmp(url, "http://", 7) != 0) return false; /* no TLS in this build, as in Harmony's example */
    const char *h = url + 7;
    const char *slash = strchr(h, '/');
    const char *end = slash ? slash : h + strlen(h);
    const char *colon = memchr(h, ':', (size_t)(end - h));
    size_t n = (size_t)((colon ? colon : end) - h);
    if (n == 0 || n >= host_size) return false;
    memcpy(host, h, n);
    host[n] = 0;
    *port = colon ? (uint16_t)atoi(colon + 1) : 80u;
    *path = slash ? slash : "/";
    return true;
}

static void http_close(void) {
    if (ota.fd >= 0) otaloop_tcp_close(ota.fd);
    ota.fd = -1;
}

static bool http_start(const char *url, bool to_file) {
    char host[100];
    uint16_t port;
    const char *path;
    ota.http = H_FAILED;
    ota.to_file = to_file;
    ota.head_len = ota.body_len = ota.received = ota.content_length = 0;
    ota.last_progress_ms = SYS_TIME_CounterGet_ms();
    if (!split_url(url, host, sizeof host, &port, &path)) return false;
    ota.fd = otaloop_tcp_connect(host, port);
    if (ota.fd < 0) return false;
    char request[300];
    int n = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);
    if (n <= 0 || (size_t)n >= sizeof request) return false;
    memcpy(ota.head, request, (size_t)n); /* kept until the connection is up */
    ota.head_len = (uint32_t)n;
    ota.http = H_CONNECTING;
    return true;
}

static bool flush_body(void) {
    if (!ota.to_file || ota.body_len == 0) return true;
    size_t n = SYS_FS_FileWrite(ota.file, ota.body, ota.body_len);
    if (n != ota.body_len) return false;
    ota.params.total_data_downloaded += ota.body_len;
    ota.body_len = 0;
    return true;
}

/* One step of the transfer; H_DONE or H_FAILED when it ends. */
static void http_step(void) {
    uint32_t now = SYS_TIME_CounterGet_ms();
    if (ota.http == H_CONNECTING) {
        int c = otaloop_tcp_connected(ota.fd);
        if (c < 0) {
            ota.http = H_FAILED;
        } else if (c > 0) {
            if (otaloop_tcp_send(ota.fd, ota.head, ota.head_len) != (long)ota.head_len) {
                ota.http = H_FAILED;
            } else {
                ota.head_len = 0;
                ota.http = H_HEADERS;
                ota.last_progress_ms = now;
            }
        }
    } else if (ota.http == H_HEADERS || ota.http == H_BODY) {
        uint8_t buf[1024];
        size_t want = sizeof ota.head - 1 - ota.head_len; /* the headers: what the header buffer still takes */
        if (want > sizeof buf) want = sizeof buf;
        if (ota.http == H_BODY) {
            uint32_t left = ota.content_length - ota.received;
            uint32_t room = (ota.to_file ? CHUNK : JSON_MAX) - ota.body_len;
            want = left < room ? left : room;
            if (want > sizeof buf) want = sizeof buf;
        }
        long n = want ? otaloop_tcp_recv(ota.fd, buf, want) : 0;
        if (n == 0 && want) {
            ota.http = H_FAILED; /* the server closed early */
            return;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) ota.http = H_FAILED;
            else if (now - ota.last_progress_ms > NET_TIMEOUT_MS) ota.http = H_FAILED;
            return;
        }
        ota.last_progress_ms = now;
        if (ota.http == H_HEADERS) {
            size_t room = sizeof ota.head - 1 - ota.head_len;
            if ((size_t)n > room) {
                ota.http = H_FAILED;
                return;
            }
            memcpy(ota.head + ota.head_len, buf, (size_t)n);
            ota.head_len += (uint32_t)n;
            ota.head[ota.head_len] = 0;
            char *end = strstr(ota.head, "\r\n\r\n");
            if (!end) return;
            int code = 0;
            if (sscanf(ota.head, "HTTP/%*d.%*d %d", &code) != 1 || code != 200) {
                printf("SYS_OTA : Request rejected by client :code: %d \r\n", code);
                ota.http = H_FAILED;
                return;
            }
            char *cl = strstr(ota.head, "Content-Length:");
            if (!cl || (ota.content_length = (uint32_t)strtoul(cl + 15, NULL, 10)) == 0) {
                ota.http = H_FAILED;
                return;
            }
            if (ota.to_file) ota.params.server_image_length = ota.content_length;
            uint32_t extra = ota.head_len - (uint32_t)(end + 4 - ota.head);
            ota.http = H_BODY;
            if (extra) {
                memmove(buf, end + 4, extra);
                n = (long)extra;
            } else {
                n = 0;
            }
        }
        if (n > 0) {
            uint32_t cap = ota.to_file ? CHUNK : JSON_MAX;
            if (ota.body_len + (uint32_t)n > cap || ota.received + (uint32_t)n > ota.content_length) {
                ota.http = H_FAILED;
                return;
            }
            memcpy(ota.body + ota.body_len, buf, (size_t)n);
            ota.body_len += (uint32_t)n;
            ota.received += (uint32_t)n;
            if (ota.to_file && ota.body_len == CHUNK && !flush_body()) {
                ota.http = H_FAILED;
                return;
            }
        }
        if (ota.http == H_BODY && ota.received == ota.content_length)
            ota.http = flush_body() ? H_DONE : H_FAILED;
    }
    if (ota.http == H_DONE || ota.http == H_FAILED) http_close();
}

/* ------------------------------------------------------------------------------------ the manifest */
static const char *last_key(const char *json, const char *key) {
    const char *found = NULL, *p = json;
    size_t n = strlen(key);
    while ((p = strstr(p, key)) != NULL) {
        found = p;
        p += n;
    }
    if (!found) return NULL;
    found += n;
    while (*found == ' ' || *found == ':') found++;
    return found;
}

static bool json_string(const char *at, char *out, size_t size) {
    if (!at || *at != '"') return false;
    at++;
    size_t i = 0;
    while (*at && *at != '"' && i + 1 < size) out[i++] = *at++;
    out[i] = 0;
    return *at == '"';
}

/* The URL string at ``at`` into url[OTA_URL_SIZE], copied whole as Harmony's SYS_OTA_ParseJsonContent
 * copies it (memcpy(strlen + 1)): the planted overflow of a URL of 100 bytes or more. */
static bool json_url(const char *at, char *url) {
    if (!at || *at != '"') return false;
    const char *end = strchr(at + 1, '"');
    if (!end) return false;
    size_t n = (size_t)(end - (at + 1));
    memcpy(url, at + 1, n); /* no bounds check, as in Harmony */
    url[n] = 0;
    return true;
}

/* The number of decimal digits of a version, into *digits (planted: left unset above 999). */
static __attribute__((noinline)) void version_digits(long version, int *digits) {
    if (version < 10)
        *digits = 1;
    else if (version < 100)
        *digits = 2;
    else if (version < 1000)
        *digits = 3;
}

/* Returns SYS_OTA_UPDATE_AVAILABLE or SYS_OTA_UPDATE_NOTAVAILABLE. */
static SYS_OTA_STATUS parse_manifest(void) {
    char *json = (char *)ota.body;
    json[ota.body_len < JSON_MAX ? ota.body_len : JSON_MAX - 1] = 0;
    printf("SYS_OTA : JSON parsing \r\n");
    const char *ver = last_key(json, "\"Version\"");
    char url[OTA_URL_SIZE], digest[66];
    bool have_url = json_url(last_key(json, "\"URL\""), url);
    bool have_digest = json_string(last_key(json, "\"Digest\""), digest, sizeof digest);
    if (!ver || !have_url || !have_digest || !(isdigit((unsigned char)*ver) || *ver == '-')) {
        printf("SYS OTA : Mandatory JSON fields does not exist\r\n");
        return SYS_OTA_UPDATE_NOTAVAILABLE;
    }
    long version = strtol(ver, NULL, 10);
    printf("    Server app URL \"%s\"\r\n", url);
    printf("    Server app Digest \"%s\"\r\n", digest);
    printf("    Server app version: %ld\r\n", version);
    printf("    current app version: %lu\r\n", (unsigned long)otaloop_app_info()->version);
    if (version <= 0) {
        ota.bad_versions++; /* the planted rare branch: no scenario of otaloop's library serves such a version */
        return SYS_OTA_UPDATE_NOTAVAILABLE;
    }
    int digits; /* planted: set only for versions up to 999 */
    version_digits(version, &digits);
    if (digits > 3) ota.long_versions++; /* planted: an uninitialised read for versions above 999 */
    if ((uint32_t)version <= otaloop_app_info()->version) return SYS_OTA_UPDATE_NOTAVAILABLE;
    SYS_OTA_SET_PARAMETERS(url, (uint32_t)version, digest);
    return SYS_OTA_UPDATE_AVAILABLE;
}

/* --------------------------------------------------------------------------- the image database */
typedef struct {
    char name[100], status[8], version[16], type[8], digest[72];
} db_row;

static int db_load(db_row *rows, int max) {
    static char text[DB_MAX + 1];
    SYS_FS_HANDLE h = SYS_FS_FileOpen(DB_FILE, SYS_FS_FILE_OPEN_READ);
    if (h == SYS_FS_HANDLE_INVALID) return -1;
    size_t n = SYS_FS_FileRead(h, text, DB_MAX);
    SYS_FS_FileClose(h);
    if (n == (size_t)-1) return -1;
    text[n] = 0;
    int count = 0;
    char *line = text;
    while (line && *line && count < max) {
        char *next = strchr(line, '\n');
        if (next) *next++ = 0;
        db_row *r = &rows[count];
        memset(r, 0, sizeof *r);
        char *field[5] = {r->name, r->status, r->version, r->type, r->digest};
        size_t size[5] = {sizeof r->name, sizeof r->status, sizeof r->version, sizeof r->type, sizeof r->digest};
        char *p = line;
        for (int f = 0; f < 5 && p; f++) {
            char *comma = f < 4 ? strchr(p, ',') : NULL;
            if (comma) *comma = 0;
            strncpy(field[f], p, size[f] - 1);
            p = comma ? comma + 1 : NULL;
        }
        count++;
        line = next;
    }
    return count;
}

static bool db_save(const db_row *rows, int count) {
    static char text[DB_MAX];
    size_t n = 0;
    for (int i = 0; i < count; i++) {
        int w = snprintf(text + n, sizeof text - n, "%s%s,%s,%s,%s,%s", i ? "\n" : "", rows[i].name, rows[i].status,
                         rows[i].version, rows[i].type, rows[i].digest);
        if (w < 0 || (size_t)w >= sizeof text - n) return false;
        n += (size_t)w;
    }
    SYS_FS_HANDLE h = SYS_FS_FileOpen(DB_FILE, SYS_FS_FILE_OPEN_WRITE);
    if (h == SYS_FS_HANDLE_INVALID) return false;
    bool ok = SYS_FS_FileWrite(h, text, n) == n;
    return SYS_FS_FileClose(h) == SYS_FS_RES_SUCCESS && ok;
}

/* ------------------------------------------------------------------------------------ boot control */
static void write_boot_control(uint8_t status, uint32_t version) {
    static uint32_t page[4096 / 4];
    uint8_t *b = (uint8_t *)page;
    memset(page, 0xFF, sizeof page);
    memset(b, 0, 256);
    b[0] = status;                   /* status */
    b[1] = 0;                        /* slot */
    b[2] = 0xFF;                     /* order */
    b[3] = 0x01;                     /* type: production */
    memcpy(b + 8, &version, 4);      /* sz stays 0, then version */
    uint32_t boot_addr = 0xB0021000u;
    memcpy(b + 12, &boot_addr, 4);
    NVM_PageErase(0x90000000u | BOOT_CTL_PHYS);
    for (uint32_t off = 0; off < 4096u; off += NVM_FLASH_ROWSIZE)
        NVM_RowWrite(page + off / 4, 0x90000000u | (BOOT_CTL_PHYS + off));
}

/* OTA_ImgStatus_Params at boot: a production image confirms itself (DB row and boot control to F8). */
static void confirm_running_image(void) {
    uint8_t head[16];
    NVM_Read((uint32_t *)head, sizeof head, BOOT_CTL_PHYS);
    if (head[3] == 0x03) return; /* the factory image: nothing to confirm */
    uint32_t version;
    memcpy(&version, head + 8, 4);
    static db_row rows[16];
    int n = db_load(rows, 16);
    for (int i = 0; i < n; i++) {
        if ((uint32_t)strtoul(rows[i].version, NULL, 16) != version) continue;
        if (strcmp(rows[i].status, "f8") != 0) {
            strcpy(rows[i].status, "f8");
            if (!db_save(rows, n)) return;
        }
        write_boot_control(0xF8, version);
        return;
    }
}

static bool db_new_entry(void) {
    static db_row rows[16];
    int n = db_load(rows, 16);
    if (n < 0) n = 0;
    int row = n;
    if ((uint32_t)n >= otaloop_app_info()->num_images && n > 0) { /* full: replace the lowest version */
        unsigned long lowest = 65535;
        for (int i = 0; i < n; i++) {
            unsigned long v = strtoul(rows[i].version, NULL, 16);
            if (v < lowest) lowest = v, row = i;
        }
    }
    if (row >= 16) return false;
    const char *name = strrchr(ota.image_path, '/');
    db_row *r = &rows[row];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%.99s", name ? name + 1 : ota.image_path);
    strcpy(r->status, "fe");
    snprintf(r->version, sizeof r->version, "%lu", (unsigned long)ota.params.version);
    strcpy(r->type, "0x01");
    snprintf(r->digest, sizeof r->digest, "%.64s", ota.params.serv_app_digest_string);
    return db_save(rows, row == n ? n + 1 : n);
}

/* ---------------------------------------------------------------------------------------- the API */
void SYS_OTA_Initialize(void) {
    memset(&ota, 0, sizeof ota);
    ota.fd = -1;
    ota.state = S_INIT;
    ota.periodic = otaloop_app_info()->periodic_check;
}

SYS_OTA_RESULT SYS_OTA_CtrlMsg(uint32_t event, void *buffer, uint32_t length) {
    if (event == SYS_OTA_REGCALLBACK) {
        if (ota.cb || buffer == NULL || length != sizeof(SYS_OTA_CALLBACK)) return SYS_OTA_FAILURE;
        memcpy(&ota.cb, buffer, sizeof ota.cb);
        return SYS_OTA_SUCCESS;
    }
    if (ota.state != S_IDLE) return SYS_OTA_FAILURE;
    switch (event) {
        case SYS_OTA_UPDATECHCK: ota.state = S_CHECK; break;
        case SYS_OTA_INITIATE_OTA: ota.state = S_TRIGGER; break;
        case SYS_OTA_TRIGGER_SYSTEM_RESET: ota.state = S_SYSTEM_RESET; break;
        case SYS_OTA_TRIGGER_FACTORY_RESET: ota.state = S_FACTORY_RESET; break;
        default: return SYS_OTA_FAILURE; /* rollback: not in this example */
    }
    return SYS_OTA_SUCCESS;
}

void SYS_OTA_SET_PARAMETERS(char *url, uint32_t version, char *digest) {
    snprintf(ota.params.ota_server_url, sizeof ota.params.ota_server_url, "%s", url);
    ota.params.version = version;
    snprintf(ota.params.serv_app_digest_string, sizeof ota.params.serv_app_digest_string, "%.64s", digest);
}

void OTA_GetDownloadStatus(OTA_PARAMS *p) {
    p->server_image_length = ota.params.server_image_length;
    p->total_data_downloaded = ota.params.total_data_downloaded;
}

void SYS_OTA_SystemReset(void) { SYS_RESET_SoftwareReset(); }

static void after_check(void) {
    if (ota.periodic) {
        ota.timer_ms = SYS_TIME_CounterGet_ms() + (otaloop_app_info()->interval_s + 2u) * 1000u;
        ota.state = S_WAIT_TIMER;
    } else {
        ota.state = S_IDLE;
    }
}

void SYS_OTA_Tasks(void) {
    switch (ota.state) {
        case S_INIT:
            if (SYS_FS_Mount("/dev/mtda1", "/mnt/myDrive1", FAT, 0, NULL) != SYS_FS_RES_SUCCESS) return;
            SYS_FS_DirectoryMake(OTA_DIR);
            confirm_running_image();
            ota.state = S_WAIT_NETWORK;
            break;
        case S_WAIT_NETWORK:
            if (!otaloop_network_up()) return;
            printf("\r\nSYS OTA : IP address obtained for preferred interface for OTA\r\n");
            ota.state = ota.periodic ? S_CHECK : S_IDLE;
            break;
        case S_WAIT_TIMER:
            if ((int32_t)(SYS_TIME_CounterGet_ms() - ota.timer_ms) >= 0) ota.state = S_CHECK;
            break;
        case S_IDLE:
            break;
        case S_CHECK:
            notify(SYS_OTA_UPDATE_CHECK_START);
            printf("SYS OTA : Connecting to server : %s\r\n", otaloop_app_info()->manifest_url);
            if (!http_start(otaloop_app_info()->manifest_url, false)) {
                http_close();
                notify(SYS_OTA_UPDATE_CHECK_FAILED);
                after_check();
                return;
            }
            ota.state = S_CHECKING;
            break;
        case S_CHECKING:
            http_step();
            if (ota.http == H_FAILED) {
                notify(SYS_OTA_UPDATE_CHECK_FAILED);
                after_check();
            } else if (ota.http == H_DONE) {
                SYS_OTA_STATUS result = parse_manifest();
                notify(result);
                if (result == SYS_OTA_UPDATE_AVAILABLE) {
                    if (otaloop_app_info()->auto_update) {
                        ota.state = S_TRIGGER;
                    } else {
                        ota.periodic = false; /* the service goes idle and stops checking */
                        ota.state = S_IDLE;
                    }
                } else {
                    after_check();
                }
            }
            break;
        case S_TRIGGER: {
            const char *url = ota.params.ota_server_url;
            const char *name = strrchr(url, '/');
            printf("SYS OTA : Starting OTA with server: %s \r\n", url);
            snprintf(ota.image_path, sizeof ota.image_path, OTA_DIR "/%s", name && name[1] ? name + 1 : "image.bin");
            ota.params.total_data_downloaded = 0;
            ota.file = SYS_FS_FileOpen(ota.image_path, SYS_FS_FILE_OPEN_WRITE);
            if (ota.file == SYS_FS_HANDLE_INVALID) {
                printf("SYS OTA : Error starting OTA\r\n");
                notify(SYS_OTA_TRIGGER_OTA_FAILED);
                ota.state = S_IDLE;
                return;
            }
            notify(SYS_OTA_DOWNLOAD_START);
            if (!http_start(url, true)) ota.http = H_FAILED;
            ota.state = S_DOWNLOADING;
            break;
        }
        case S_DOWNLOADING:
            if (ota.http != H_FAILED) http_step();
            if (ota.http == H_FAILED) {
                http_close();
                SYS_FS_FileClose(ota.file);
                printf("SYS OTA : Download error\r\n");
                notify(SYS_OTA_DOWNLOAD_FAILED);
                ota.periodic = false;
                ota.state = S_IDLE;
            } else if (ota.http == H_DONE) {
                SYS_FS_FileClose(ota.file);
                notify(SYS_OTA_DOWNLOAD_SUCCESS);
                notify(SYS_OTA_IMAGE_DIGEST_VERIFY_START);
                example_sha256_init(&ota.sha);
                ota.file = SYS_FS_FileOpen(ota.image_path, SYS_FS_FILE_OPEN_READ);
                ota.state = S_VERIFY;
            }
            break;
        case S_VERIFY: {
            size_t n = ota.file == SYS_FS_HANDLE_INVALID ? (size_t)-1 : SYS_FS_FileRead(ota.file, ota.body, CHUNK);
            if (n != (size_t)-1 && n > 0) {
                example_sha256_add(&ota.sha, ota.body, n);
                return;
            }
            if (ota.file != SYS_FS_HANDLE_INVALID) SYS_FS_FileClose(ota.file);
            uint8_t sum[32];
            char hex[65];
            example_sha256_final(&ota.sha, sum);
            for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", sum[i]);
            if (n == (size_t)-1 || strncasecmp(hex, ota.params.serv_app_digest_string, 64) != 0) {
                printf("SYS OTA : digest mismatch\r\n");
                SYS_FS_FileDirectoryRemove(ota.image_path);
                notify(SYS_OTA_IMAGE_DIGEST_VERIFY_FAILED);
                ota.periodic = false;
                ota.state = S_IDLE;
                return;
            }
            notify(SYS_OTA_IMAGE_DIGEST_VERIFY_SUCCESS);
            ota.state = S_DB_ENTRY;
            break;
        }
        case S_DB_ENTRY:
            if (!db_new_entry()) {
                notify(SYS_OTA_DOWNLOAD_FAILED);
                ota.state = S_IDLE;
                return;
            }
            write_boot_control(0xF0, ota.params.version);
            ota.download_success = true;
            notify(SYS_OTA_DB_ENTRY_SUCCESS);
            if (otaloop_app_info()->autoreset) SYS_OTA_SystemReset();
            ota.state = S_IDLE;
            break;
        case S_FACTORY_RESET:
            SYS_FS_FileDirectoryRemove(DB_FILE);
            NVM_PageErase(0x90000000u | BOOT_CTL_PHYS);
            notify(SYS_OTA_FACTORY_RESET_SUCCESS);
            ota.state = S_IDLE;
            break;
        case S_SYSTEM_RESET:
            if (ota.download_success) SYS_OTA_SystemReset();
            printf("SYS OTA : OTA DB entry is not yet done\n\r");
            ota.state = S_IDLE;
            break;
    }
}
