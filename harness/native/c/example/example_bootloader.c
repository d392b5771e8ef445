/* otaloop example bootloader: a small OTA bootloader in C, written for otaloop's tests and docs.
 *
 * It follows the decisions of Harmony v3.9.1's OTA bootloader on its main paths (first-boot factory
 * backup, CHECK, SELECT, PROGRAM, VERIFY, SET_IMAGE_STATUS, the factory fallback, the jump) with the
 * same API names -- SYS_FS calls, NVM plib calls, printf on the console, the register sequence of the
 * software reset, a call through boot control's boot_addr -- so otaloop can build it, run it on the
 * virtual board, cut its power and compare it with the Python model without Harmony's sources. It is
 * not Harmony's code and does not reproduce its quirks (CSV seek wrap, the uint8_t row lookup,
 * the stale header status of SELECT).
 *
 * Build switches for tests: EXAMPLE_SKIP_VERIFY (a bug: images are not verified); EXAMPLE_LATE_CYCLE (the
 * main loop counts 3000 passes without touching flash, then loops for ever through three states: a cycle
 * the runner's loop detector meets only after it has started to check the state sparsely).
 *
 * Planted for the checks of `otaloop native build --sanitize`: SELECT copies the chosen row's version
 * as decimal text into `char ver[4]`, as Harmony's bootloader keeps a short version string; a version
 * above 999 writes past it (a stack buffer overflow). Only a database row with such a version reaches it,
 * so the scenario library and the sweeps run clean.
 *
 * Planted for `--sanitize memcheck`: before that copy SELECT counts the version's decimal digits through a
 * helper that sets the count only for versions up to 999, and tests it: the same rows (versions above 999)
 * reach a read of an uninitialised stack variable first. Its outcome changes nothing anyone observes.
 *
 * Planted for the checks of `otaloop native build --coverage`: a database row whose name does not fit the
 * 100-byte name field is counted in load_db (the name is cut short). Only a file name of 100 characters or
 * more reaches that branch.
 *
 * Planted for the coverage-guided search (`otaloop fuzz --guided`): SELECT counts an update chosen over
 * an earlier update (two rows in the database), and among those one whose image grew past two pages.
 * The state machine's rules reach them only in sequence -- an update downloaded and booted, then a newer
 * release served and downloaded, of the larger size -- which fresh random examples rarely line up and a
 * mutation of an example that already reached the first update finds by adding the steps after it.
 */
#include <stdlib.h>
#include <string.h>

#include "definitions.h"
#include "example_sha256.h"

#define SLOT 0x90020000u   /* boot control page, then the application (KSEG0) */
#define BOOT_CTL ((volatile const uint8_t *)(uintptr_t)0xB0020000u)
#define BOOT_ADDR 0xB0021000u
#define SLOT_PAGES 223u
#define SLOT_SIZE (SLOT_PAGES * 4096u)
#define PAGE 4096u
#define MOUNT "/mnt/myDrive1"
#define FACTORY MOUNT "/ota/factory_reset.bin"
#define DB MOUNT "/ota/image_database.csv"
#define MAX_ROWS 8

typedef enum { T_INIT, T_CHECK, T_SELECT, T_PROGRAM, T_VERIFY, T_SET_STATUS, T_INVALIDATE, T_JUMP, T_BACKUP } task;
typedef enum { F_MOUNT, F_MOUNTED, F_FORMAT, F_MKDIR, F_OPEN, F_ERROR } file_state;

typedef struct {
    char name[100];
    uint8_t status;
    uint32_t version;
    char digest[72];
} row;

static struct {
    task current;
    int step;
    file_state fs;
    bool mounted, opened, reading, factory;
    SYS_FS_HANDLE file;
    uint8_t buf[PAGE];
    uint8_t first[PAGE];
    uint32_t offset, copy_len;
    row rows[MAX_ROWS];
    int nrows, chosen;
    uint8_t header_status;
    int long_names;    /* rows whose name was cut short (the planted rare branch) */
    char version_lead; /* first digit of the chosen version (kept by the planted copy) */
    int later_updates; /* SELECT chose between two updates (planted for the guided search) */
    int grown_updates; /* ... and the chosen image is over two pages (planted for the guided search) */
} bl;

static volatile bool flash_done;

static void on_flash_done(uintptr_t context) {
    (void)context;
    flash_done = true;
}

/* ------------------------------------------------------------------------------------------- flash */
static void erase_slot(void) {
    for (uint32_t p = 0; p < SLOT_PAGES; p++) {
        flash_done = false;
        NVM_PageErase(SLOT + p * PAGE);
        while (!flash_done) {
        }
    }
}

static void write_page(uint32_t address, const uint8_t *data) {
    static uint32_t row_buf[NVM_FLASH_ROWSIZE / 4];
    for (uint32_t r = 0; r < PAGE; r += NVM_FLASH_ROWSIZE) {
        memcpy(row_buf, data + r, NVM_FLASH_ROWSIZE);
        flash_done = false;
        NVM_RowWrite(row_buf, address + r);
        while (!flash_done) {
        }
    }
}

/* ------------------------------------------------------------------------------------ the database */
static int hex_value(const char *text, uint32_t *out) {
    char *end;
    unsigned long v;
    if (!*text) return -1;
    v = strtoul(text, &end, 16);
    if (*end) return -1;
    *out = (uint32_t)v;
    return 0;
}

static int load_db(void) {
    static char text[2048];
    SYS_FS_HANDLE h = SYS_FS_FileOpen(DB, SYS_FS_FILE_OPEN_READ);
    size_t n;
    char *line, *save = NULL;
    bl.nrows = 0;
    if (h == SYS_FS_HANDLE_INVALID) return -1;
    n = SYS_FS_FileRead(h, text, sizeof text - 1);
    SYS_FS_FileClose(h);
    if (n == (size_t)-1) return -1;
    text[n] = 0;
    for (line = strtok_r(text, "\n", &save); line && bl.nrows < MAX_ROWS; line = strtok_r(NULL, "\n", &save)) {
        row *r = &bl.rows[bl.nrows];
        char *f[5] = {0};
        char *s = line;
        uint32_t status;
        for (int i = 0; i < 5 && s; i++) {
            f[i] = s;
            s = strchr(s, ',');
            if (s) *s++ = 0;
        }
        if (!f[4] || hex_value(f[1], &status) || hex_value(f[2], &r->version)) continue;
        r->status = (uint8_t)status;
        if (strlen(f[0]) >= sizeof r->name) {
            bl.long_names++; /* planted: only a name of 100+ characters comes here */
        }
        snprintf(r->name, sizeof r->name, "%s", f[0]);
        snprintf(r->digest, sizeof r->digest, "%s", f[4]);
        bl.nrows++;
    }
    return 0;
}

static void save_db(void) {
    SYS_FS_HANDLE h = SYS_FS_FileOpen(DB, SYS_FS_FILE_OPEN_WRITE);
    char line[200];
    if (h == SYS_FS_HANDLE_INVALID) return;
    for (int i = 0; i < bl.nrows; i++) {
        row *r = &bl.rows[i];
        int n = snprintf(line, sizeof line, "%s,%x,%x,0x01,%s\n", r->name, r->status, (unsigned)r->version, r->digest);
        SYS_FS_FileWrite(h, line, (size_t)n);
    }
    SYS_FS_FileClose(h);
}

/* The version as decimal text, with no bound on `out` (the planted overflow's copy). */
static void version_text(char *out, uint32_t version) {
    char digits[12];
    int n = 0;
    do {
        digits[n++] = (char)('0' + version % 10u);
        version /= 10u;
    } while (version);
    while (n) *out++ = digits[--n];
    *out = 0;
}

/* The number of decimal digits of a version, into *digits (planted: left unset above 999). */
static __attribute__((noinline)) void count_digits(uint32_t version, int *digits) {
    if (version < 10u)
        *digits = 1;
    else if (version < 100u)
        *digits = 2;
    else if (version < 1000u)
        *digits = 3;
}

static volatile uint32_t long_versions; /* versions that need more than 3 digits: nothing reads it back */

/* --------------------------------------------------------------------------------- mount and files */
static void mount_step(void) {
    if (bl.fs == F_MOUNT) {
        if (SYS_FS_Mount("/dev/mtda1", MOUNT, FAT, 0, NULL) == SYS_FS_RES_SUCCESS) bl.fs = F_MOUNTED;
    } else if (bl.fs == F_MOUNTED) {
        bl.mounted = true;
        bl.fs = F_OPEN;
    }
}

static void open_step(void) {
    static uint8_t work[512];
    SYS_FS_FORMAT_PARAM opt = {SYS_FS_FORMAT_FAT, 0};
    switch (bl.fs) {
    case F_FORMAT:
        bl.fs = SYS_FS_DriveFormat(MOUNT, &opt, work, sizeof work) == SYS_FS_RES_SUCCESS ? F_MKDIR : F_ERROR;
        break;
    case F_MKDIR:
        if (SYS_FS_DirectoryMake("ota") == SYS_FS_RES_SUCCESS) bl.fs = F_OPEN;
        break;
    case F_OPEN:
        bl.file = SYS_FS_FileOpen(FACTORY, bl.reading ? SYS_FS_FILE_OPEN_READ_PLUS : SYS_FS_FILE_OPEN_WRITE_PLUS);
        if (bl.file == SYS_FS_HANDLE_INVALID)
            bl.fs = F_ERROR;
        else
            bl.opened = true;
        break;
    default:
        printf("file open error\n");
        break;
    }
}

/* ------------------------------------------------------------------------------------------ tasks */
static void go(task next) {
    bl.current = next;
    bl.step = 0;
}

static void factory_fallback(void) {
    bl.factory = true;
    bl.reading = true;
    bl.opened = false;
    bl.fs = F_OPEN;
    go(T_SELECT);
}

static void check(void) {
    uint32_t first[4];
    memcpy(first, (const void *)BOOT_CTL, sizeof first);
    if (first[0] == 0xFFFFFFFFu && first[1] == 0xFFFFFFFFu && first[2] == 0xFFFFFFFFu && first[3] == 0xFFFFFFFFu) {
        printf("Uninitialized sector\n");
        factory_fallback();
        return;
    }
    if (load_db() != 0) {
        factory_fallback();
        return;
    }
    uint32_t version = BOOT_CTL[8] | (uint32_t)BOOT_CTL[9] << 8 | (uint32_t)BOOT_CTL[10] << 16 | (uint32_t)BOOT_CTL[11] << 24;
    int found = -1;
    for (int i = 0; i < bl.nrows; i++)
        if ((uint8_t)bl.rows[i].version == (uint8_t)version) found = i;
    if (found >= 0 && BOOT_CTL[0] == 0xF8 && bl.rows[found].status == 0xF8) {
        go(T_JUMP);
        return;
    }
    go(T_SELECT);
}

static void select_image(void) {
    if (bl.factory) {
        if (!bl.opened) {
            open_step();
            return;
        }
        SYS_FS_FileDirectoryRemove(DB);
        SYS_FS_FileSeek(bl.file, 0, SYS_FS_SEEK_SET);
        if (SYS_FS_FileRead(bl.file, bl.buf, PAGE) != PAGE || bl.buf[0] != 0xF8) return; /* retried for ever */
        bl.copy_len = SLOT_SIZE;
        go(T_PROGRAM);
        return;
    }
    int best = -1;
    uint32_t best_version = 0;
    for (int i = 0; i < bl.nrows; i++) {
        row *r = &bl.rows[i];
        if ((r->status == 0xFE || r->status == 0xF8) && r->version > best_version) best = i, best_version = r->version;
    }
    if (best < 0) {
        factory_fallback();
        return;
    }
    int digits;
    count_digits(best_version, &digits);
    if (digits > 3) long_versions++; /* planted: an uninitialised read for versions above 999 */
    char ver[4]; /* planted: versions above 999 do not fit */
    version_text(ver, best_version);
    bl.version_lead = ver[0];
    char path[160];
    snprintf(path, sizeof path, "%s/ota/%s", MOUNT, bl.rows[best].name);
    bl.file = SYS_FS_FileOpen(path, SYS_FS_FILE_OPEN_READ_PLUS);
    if (bl.file == SYS_FS_HANDLE_INVALID) {
        factory_fallback();
        return;
    }
    bl.chosen = best;
    bl.header_status = bl.rows[best].status;
    bl.copy_len = (uint32_t)SYS_FS_FileSize(bl.file);
    if (bl.nrows > 1) {
        bl.later_updates++; /* planted for the guided search: an update over an update */
        if (bl.copy_len > 2u * PAGE) bl.grown_updates++; /* planted for the guided search: ... that grew */
    }
    go(T_PROGRAM);
}

static void program(void) {
    switch (bl.step) {
    case 0:
        SYS_FS_FileSeek(bl.file, 0, SYS_FS_SEEK_SET);
        SYS_FS_FileRead(bl.file, bl.first, PAGE);
        erase_slot();
        bl.offset = PAGE;
        bl.step = 1;
        break;
    case 1:
        if (bl.offset < bl.copy_len && bl.offset < SLOT_SIZE) {
            SYS_FS_FileSeek(bl.file, (int32_t)bl.offset, SYS_FS_SEEK_SET);
            SYS_FS_FileRead(bl.file, bl.buf, PAGE);
            write_page(SLOT + bl.offset, bl.buf);
            bl.offset += PAGE;
            break;
        }
        if (bl.factory) {
            memcpy(bl.buf, bl.first, PAGE);
        } else {
            uint32_t words[3] = {bl.copy_len, bl.rows[bl.chosen].version, BOOT_ADDR};
            bl.buf[0] = bl.header_status, bl.buf[1] = 0, bl.buf[2] = 0, bl.buf[3] = 0x01;
            memcpy(bl.buf + 4, words, sizeof words);
            memset(bl.buf + 16, 0, 240); /* digest and reserved bytes of the 256-byte header */
        }
        write_page(SLOT, bl.buf);
        go(T_VERIFY);
        break;
    }
}

static __attribute__((unused)) int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return 0;
}

static void verify(void) {
#ifndef EXAMPLE_SKIP_VERIFY
    if (!bl.factory) {
        example_sha256 s;
        uint8_t digest[32], expected[32];
        const char *hex = bl.rows[bl.chosen].digest;
        example_sha256_init(&s);
        example_sha256_add(&s, bl.first, PAGE);
        if (bl.copy_len > PAGE) example_sha256_add(&s, (const uint8_t *)(uintptr_t)(SLOT + PAGE), bl.copy_len - PAGE);
        example_sha256_final(&s, digest);
        for (int i = 0; i < 32; i++) expected[i] = (uint8_t)(hex_digit(hex[2 * i]) << 4 | hex_digit(hex[2 * i + 1]));
        if (memcmp(digest, expected, 32) != 0) {
            printf("Broken Image\n");
            go(T_INVALIDATE);
            return;
        }
    }
#endif
    go(T_SET_STATUS);
}

static void set_status(void) {
    NVM_Read((uint32_t *)(void *)bl.buf, PAGE, SLOT);
    bl.buf[0] &= 0xFC;
    write_page(SLOT, bl.buf);
    go(T_JUMP);
}

static void invalidate(void) {
    SYS_FS_FileClose(bl.file);
    for (int i = bl.chosen; i + 1 < bl.nrows; i++) bl.rows[i] = bl.rows[i + 1];
    bl.nrows--;
    save_db();
    go(T_SELECT);
}

static void backup(void) {
    if (!bl.opened) {
        open_step();
        return;
    }
    if (bl.offset < SLOT_SIZE) {
        NVM_Read((uint32_t *)(void *)bl.buf, PAGE, SLOT + bl.offset);
        if (bl.offset == 0) {
            uint32_t boot = BOOT_ADDR;
            bl.buf[0] = 0xF8, bl.buf[3] = 0x03;
            memcpy(bl.buf + 12, &boot, 4);
        }
        SYS_FS_FileWrite(bl.file, bl.buf, PAGE);
        bl.offset += PAGE;
        return;
    }
    uint32_t boot = BOOT_ADDR;
    bl.buf[0] = 0xF8, bl.buf[3] = 0x03;
    memcpy(bl.buf + 12, &boot, 4);
    write_page(SLOT, bl.buf); /* no erase: the cells keep old AND new */
    SYS_FS_FileClose(bl.file);
    SYSKEY = 0x00000000;
    SYSKEY = 0xAA996655;
    SYSKEY = 0x556699AA;
    RSWRSTSET = _RSWRST_SWRST_MASK;
    (void)RSWRST;
}

static void jump(void) {
    uint32_t addr = BOOT_CTL[12] | (uint32_t)BOOT_CTL[13] << 8 | (uint32_t)BOOT_CTL[14] << 16 | (uint32_t)BOOT_CTL[15] << 24;
    void (*entry)(void) = (void (*)(void))(uintptr_t)addr;
    __builtin_disable_interrupts();
    entry();
}

static void init(void) {
    mount_step();
    if (!bl.mounted) return;
    uint8_t type = BOOT_CTL[3];
    if (type == 0x02 || (type == 0x03 && BOOT_CTL[0] == 0xF8)) {
        go(T_JUMP);
    } else if (type == 0x03) {
        bl.fs = F_FORMAT;
        bl.offset = 0;
        go(T_BACKUP);
    } else {
        go(T_CHECK);
    }
}

/* ---------------------------------------------------------------------------- Harmony's entry points */
void SYS_Initialize(void *data) {
    (void)data;
    CLK_Initialize();
    GPIO_Initialize();
    NVM_Initialize();
    UART1_Initialize();
    NVM_CallbackRegister(on_flash_done, 0);
    printf("\nBOOTLOADER Build %s %s\r\n", __DATE__, __TIME__);
    bl.current = T_INIT;
    bl.fs = F_MOUNT;
    EVIC_Initialize();
    __builtin_enable_interrupts();
}

void SYS_Tasks(void) {
#ifdef EXAMPLE_LATE_CYCLE
    static uint32_t late_passes;
    late_passes = late_passes < 3000u ? late_passes + 1u : 3000u + (late_passes - 2999u) % 3u;
    return;
#endif
    SYS_FS_Tasks();
    switch (bl.current) {
    case T_INIT: init(); break;
    case T_CHECK: check(); break;
    case T_SELECT: select_image(); break;
    case T_PROGRAM: program(); break;
    case T_VERIFY: verify(); break;
    case T_SET_STATUS: set_status(); break;
    case T_INVALIDATE: invalidate(); break;
    case T_JUMP: jump(); break;
    case T_BACKUP: backup(); break;
    }
}
