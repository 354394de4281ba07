/* Helpers shared by the C test programs of the netipc C ABI. */
#ifndef NETIPC_TEST_COMMON_H
#define NETIPC_TEST_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netipc.h>

#define S(lit) (const uint8_t *)(lit), strlen(lit)

static const char *rc_name(netipc_result rc) { return (const char *)netipc_result_name(rc, NULL); }

/* Fails the program unless `expr` returns `want`, printing the message. */
#define EXPECT_RC(expr, want)                                                                \
    do {                                                                                     \
        netipc_result rc_ = (expr);                                                          \
        if (rc_ != (want)) {                                                                 \
            size_t len_;                                                                     \
            const uint8_t *msg_ = netipc_last_error(&len_);                                  \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s (last error: %.*s)\n",       \
                    __FILE__, __LINE__, #expr, rc_name(rc_), rc_name(want), (int)len_,       \
                    (const char *)msg_);                                                     \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

#define OK(expr) EXPECT_RC(expr, NETIPC_OK)

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);         \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

/* The 32-bit FNV-1a hash the cgroups collector gives a cgroup name. */
static inline uint32_t name_hash(const char *s, size_t n) {
    uint32_t h = 0x811c9dc5u;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

static inline uint64_t parse_token(const char *hex) {
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(hex, &end, 16);
    CHECK(errno == 0 && end && *end == '\0');
    return (uint64_t)v;
}

/* Item i of the synthetic snapshot the test provider publishes. */
static inline void synthetic_item(size_t i, char *name, size_t name_cap, char *path,
                                  size_t path_cap) {
    snprintf(name, name_cap, "slice-%zu.slice/unit-%zu.scope", i % 7, i);
    snprintf(path, path_cap, "/sys/fs/cgroup/%s", name);
}

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Refreshes until ready or `seconds` passed; returns the last result. */
static inline netipc_result refresh_until_ready(const netipc_client *c, double seconds) {
    double deadline = now_s() + seconds;
    netipc_result rc;
    for (;;) {
        rc = netipc_client_refresh(c, NULL);
        if (rc == NETIPC_OK || rc == NETIPC_ERR_AUTH_REJECTED ||
            rc == NETIPC_ERR_INCOMPATIBLE || now_s() > deadline)
            return rc;
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

#endif
