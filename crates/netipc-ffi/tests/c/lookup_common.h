/*
 * The synthetic lookup provider shared by the C tests, and the checks a
 * consumer makes on its answers.
 *
 * CGROUPS_LOOKUP: path "/sys/fs/cgroup/c-K" is known when K % 3 == 0 (name
 * "name-K", orchestrator K % 8, labels id=K and empty=""), retry-later when
 * K % 3 == 1, permanent when K % 3 == 2. Generation 42.
 *
 * APPS_LOOKUP: odd PIDs are unknown; an even PID P is known with ppid P/2,
 * uid P % 1000, starttime 10 P, comm "comm-(P % 1000)", and a known cgroup
 * "/sys/fs/cgroup/p-P" named "app-P" (docker, label pid=P) when P % 4 == 0,
 * the host root otherwise. Generation 43.
 */
#ifndef NETIPC_TEST_LOOKUP_COMMON_H
#define NETIPC_TEST_LOOKUP_COMMON_H

#include "common.h"

static inline void lookup_path(size_t k, char *buf, size_t cap) {
    snprintf(buf, cap, "/sys/fs/cgroup/c-%zu", k);
}

/* The number at the end of a path. */
static inline size_t path_number(const uint8_t *p, size_t n) {
    size_t k = 0, scale = 1;
    while (n > 0 && p[n - 1] >= '0' && p[n - 1] <= '9') {
        k += (size_t)(p[n - 1] - '0') * scale;
        scale *= 10;
        n--;
    }
    return k;
}

#define TRY(expr)                                                                            \
    do {                                                                                     \
        netipc_result r_ = (expr);                                                           \
        if (r_ != NETIPC_OK) return r_;                                                      \
    } while (0)

/* An add's result: the answer was written, or a placeholder was (the
 * response is full or the answer too large) - both are fine. */
#define ADDED(expr)                                                                          \
    do {                                                                                     \
        netipc_result r_ = (expr);                                                           \
        if (r_ != NETIPC_OK && r_ != NETIPC_ERR_OVERFLOW) return r_;                         \
    } while (0)

static inline netipc_result on_cgroups_lookup(void *ctx, const netipc_lookup_request *req,
                                       netipc_lookup_reply *reply) {
    (void)ctx;
    size_t n = netipc_lookup_request_count(req);
    for (size_t i = 0; i < n && !netipc_lookup_reply_exceeded(reply); i++) {
        const uint8_t *p;
        size_t len;
        TRY(netipc_lookup_request_path(req, i, &p, &len));
        size_t k = path_number(p, len);
        if (k % 3 == 0) {
            char name[32], id[32];
            snprintf(name, sizeof name, "name-%zu", k);
            snprintf(id, sizeof id, "%zu", k);
            TRY(netipc_lookup_reply_add_label(reply, S("id"), S(id)));
            TRY(netipc_lookup_reply_add_label(reply, S("empty"), NULL, 0));
            ADDED(netipc_lookup_reply_add_cgroup_known(reply, (uint32_t)(k % 8), S(name)));
        } else {
            ADDED(netipc_lookup_reply_add_cgroup_unknown(
                reply, k % 3 == 1 ? NETIPC_CGROUP_UNKNOWN_RETRY_LATER
                                  : NETIPC_CGROUP_UNKNOWN_PERMANENT));
        }
    }
    return netipc_lookup_reply_set_generation(reply, 42);
}

static inline netipc_result on_apps_lookup(void *ctx, const netipc_lookup_request *req,
                                    netipc_lookup_reply *reply) {
    (void)ctx;
    size_t n = netipc_lookup_request_count(req);
    for (size_t i = 0; i < n && !netipc_lookup_reply_exceeded(reply); i++) {
        uint32_t pid;
        TRY(netipc_lookup_request_pid(req, i, &pid));
        if (pid % 2) {
            ADDED(netipc_lookup_reply_add_app_unknown(reply));
            continue;
        }
        char comm[16], path[64], name[32], id[16];
        snprintf(comm, sizeof comm, "comm-%u", pid % 1000);
        if (pid % 4 == 0) {
            snprintf(path, sizeof path, "/sys/fs/cgroup/p-%u", pid);
            snprintf(name, sizeof name, "app-%u", pid);
            snprintf(id, sizeof id, "%u", pid);
            TRY(netipc_lookup_reply_add_label(reply, S("pid"), S(id)));
            ADDED(netipc_lookup_reply_add_app_known(reply, pid / 2, pid % 1000, 10ull * pid,
                                                    S(comm), NETIPC_APP_CGROUP_KNOWN,
                                                    NETIPC_ORCHESTRATOR_DOCKER, S(path), S(name)));
        } else {
            ADDED(netipc_lookup_reply_add_app_known(reply, pid / 2, pid % 1000, 10ull * pid,
                                                    S(comm), NETIPC_APP_CGROUP_HOST_ROOT,
                                                    NETIPC_ORCHESTRATOR_UNKNOWN, NULL, 0, NULL,
                                                    0));
        }
    }
    return netipc_lookup_reply_set_generation(reply, 43);
}

static inline int bytes_eq(const uint8_t *p, size_t n, const char *s) {
    return n == strlen(s) && (n == 0 || memcmp(p, s, n) == 0);
}

/* Checks item i of a CGROUPS_LOOKUP result for the path of number k. */
static inline void check_cgroup_answer(const netipc_cgroups_lookup_result *r, size_t i,
                                       size_t k) {
    char path[64], name[32], id[32];
    lookup_path(k, path, sizeof path);
    uint32_t status = 99, orch = 99;
    const uint8_t *p, *nm, *key, *value;
    size_t pl, nl, labels = 99, kl, vl;
    OK(netipc_cgroups_lookup_item(r, i, &status, &orch, &p, &pl, &nm, &nl, &labels));
    CHECK(bytes_eq(p, pl, path));
    if (k % 3 == 0) {
        snprintf(name, sizeof name, "name-%zu", k);
        snprintf(id, sizeof id, "%zu", k);
        CHECK(status == NETIPC_CGROUP_KNOWN && orch == k % 8 && bytes_eq(nm, nl, name));
        CHECK(labels == 2);
        OK(netipc_cgroups_lookup_label(r, i, 0, &key, &kl, &value, &vl));
        CHECK(bytes_eq(key, kl, "id") && bytes_eq(value, vl, id));
        OK(netipc_cgroups_lookup_label(r, i, 1, &key, &kl, &value, &vl));
        CHECK(bytes_eq(key, kl, "empty") && vl == 0);
        EXPECT_RC(netipc_cgroups_lookup_label(r, i, 2, &key, &kl, &value, &vl),
                  NETIPC_ERR_INVALID_ARGUMENT);
    } else {
        CHECK(status == (k % 3 == 1 ? NETIPC_CGROUP_UNKNOWN_RETRY_LATER
                                    : NETIPC_CGROUP_UNKNOWN_PERMANENT));
        CHECK(orch == 0 && nl == 0 && labels == 0);
    }
}

/* Checks item i of an APPS_LOOKUP result for `pid`. */
static inline void check_app_answer(const netipc_apps_lookup_result *r, size_t i, uint32_t pid) {
    uint32_t got_pid, status, ppid, uid, cg_status, orch;
    uint64_t start;
    const uint8_t *comm, *path, *name, *key, *value;
    size_t comm_len, path_len, name_len, labels, kl, vl;
    OK(netipc_apps_lookup_item(r, i, &got_pid, &status, &ppid, &uid, &start, &comm, &comm_len,
                               &cg_status, &orch, &path, &path_len, &name, &name_len, &labels));
    CHECK(got_pid == pid);
    if (pid % 2) {
        CHECK(status == NETIPC_APP_UNKNOWN && comm_len == 0 && labels == 0 && ppid == 0);
        return;
    }
    char want_comm[16], want_path[64], want_name[32], id[16];
    snprintf(want_comm, sizeof want_comm, "comm-%u", pid % 1000);
    CHECK(status == NETIPC_APP_KNOWN && ppid == pid / 2 && uid == pid % 1000);
    CHECK(start == 10ull * pid && bytes_eq(comm, comm_len, want_comm));
    if (pid % 4 == 0) {
        snprintf(want_path, sizeof want_path, "/sys/fs/cgroup/p-%u", pid);
        snprintf(want_name, sizeof want_name, "app-%u", pid);
        snprintf(id, sizeof id, "%u", pid);
        CHECK(cg_status == NETIPC_APP_CGROUP_KNOWN && orch == NETIPC_ORCHESTRATOR_DOCKER);
        CHECK(bytes_eq(path, path_len, want_path) && bytes_eq(name, name_len, want_name));
        CHECK(labels == 1);
        OK(netipc_apps_lookup_label(r, i, 0, &key, &kl, &value, &vl));
        CHECK(bytes_eq(key, kl, "pid") && bytes_eq(value, vl, id));
    } else {
        CHECK(cg_status == NETIPC_APP_CGROUP_HOST_ROOT && path_len == 0 && labels == 0);
    }
}

/* Looks up `count` synthetic paths (numbers first..first+count-1) and
 * checks every answer. */
static inline void lookup_cgroups_checked(const netipc_client *c, size_t first, size_t count) {
    char (*paths)[48] = calloc(count ? count : 1, sizeof *paths);
    const uint8_t **ptrs = calloc(count ? count : 1, sizeof *ptrs);
    size_t *lens = calloc(count ? count : 1, sizeof *lens);
    CHECK(paths && ptrs && lens);
    for (size_t i = 0; i < count; i++) {
        lookup_path(first + i, paths[i], sizeof paths[i]);
        ptrs[i] = (const uint8_t *)paths[i];
        lens[i] = strlen(paths[i]);
    }
    const netipc_cgroups_lookup_result *r = NULL;
    OK(netipc_client_call_cgroups_lookup(c, ptrs, lens, count, 30000, &r));
    CHECK(netipc_cgroups_lookup_count(r) == count);
    CHECK(netipc_cgroups_lookup_generation(r) == 42);
    for (size_t i = 0; i < count; i++) check_cgroup_answer(r, i, first + i);
    free(paths);
    free(ptrs);
    free(lens);
}

/* Looks up PIDs first..first+count-1 and checks every answer. */
static inline void lookup_apps_checked(const netipc_client *c, uint32_t first, size_t count) {
    uint32_t *pids = calloc(count ? count : 1, sizeof *pids);
    CHECK(pids);
    for (size_t i = 0; i < count; i++) pids[i] = first + (uint32_t)i;
    const netipc_apps_lookup_result *r = NULL;
    OK(netipc_client_call_apps_lookup(c, pids, count, 30000, &r));
    CHECK(netipc_apps_lookup_count(r) == count);
    CHECK(netipc_apps_lookup_generation(r) == 43);
    for (size_t i = 0; i < count; i++) check_app_answer(r, i, pids[i]);
    free(pids);
}

#endif
