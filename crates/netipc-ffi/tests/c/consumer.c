/*
 * A netipc consumer for the multi-process tests.
 *
 *   consumer MODE RUN_DIR SERVICE TOKEN_HEX PROFILE ARG
 *
 * MODE:
 *   increment       INCREMENT calls, plain and batched (ARG unused)
 *   string-reverse  STRING_REVERSE calls (ARG unused)
 *   snapshot        the test provider's synthetic snapshot of ARG items,
 *                   through a Level 2 client and through the cache
 *   cgroups         a `netipc serve cgroups-snapshot` snapshot that must
 *                   hold the cgroup named ARG
 *   cgroups-lookup  ARG synthetic paths (lookup_common.h), split by the
 *                   library into many requests
 *   apps-lookup     ARG synthetic PIDs
 *   cli-cgroups-lookup  `netipc serve cgroups-lookup`: every path gets an
 *                   echoed answer
 *   cli-apps-lookup `netipc serve apps-lookup`: our own PID is known
 *   auth-rejected   the provider must reject our token
 * PROFILE (uds, shm) is what the client offers; the session must use it.
 * Exits 0 when every check passed.
 */
#include <unistd.h>

#include "lookup_common.h"

static void check_profile(const netipc_client_status *st, int shm) {
    CHECK(netipc_client_status_state(st) == NETIPC_STATE_READY);
    CHECK(netipc_client_status_shm_in_use(st) == (shm != 0));
    CHECK(netipc_client_status_profile(st) ==
          (uint32_t)(shm ? NETIPC_PROFILE_SHM_HYBRID : NETIPC_PROFILE_UDS));
    uint64_t id = 0;
    CHECK(netipc_client_status_session_id(st, &id));
}

static void walk_synthetic(const netipc_cgroups *snap, size_t items) {
    CHECK(netipc_cgroups_count(snap) == items);
    CHECK(netipc_cgroups_generation(snap) == 7);
    CHECK(netipc_cgroups_systemd_enabled(snap) == 1);
    for (size_t i = 0; i < items; i++) {
        char name[128], path[192];
        synthetic_item(i, name, sizeof name, path, sizeof path);
        uint32_t hash, options, enabled;
        const uint8_t *n, *p;
        size_t nl, pl;
        OK(netipc_cgroups_item(snap, i, &hash, &options, &enabled, &n, &nl, &p, &pl));
        CHECK(nl == strlen(name) && memcmp(n, name, nl) == 0);
        CHECK(pl == strlen(path) && memcmp(p, path, pl) == 0);
        CHECK(hash == name_hash(name, nl) && options == i && enabled == i % 2);
        OK(netipc_cgroups_lookup(snap, hash, S(name), &options, NULL, &p, &pl));
        CHECK(options == i && pl == strlen(path));
    }
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: consumer MODE RUN_DIR SERVICE TOKEN_HEX PROFILE ARG\n");
        return 2;
    }
    const char *mode = argv[1], *run_dir = argv[2], *service = argv[3], *arg = argv[6];
    uint64_t token = parse_token(argv[4]);
    int shm = strcmp(argv[5], "shm") == 0;

    netipc_client_config *cfg = NULL;
    OK(netipc_client_config_new(token, &cfg));
    if (shm)
        OK(netipc_client_config_set_profiles(cfg, NETIPC_PROFILE_UDS | NETIPC_PROFILE_SHM_HYBRID,
                                             NETIPC_PROFILE_SHM_HYBRID));
    else
        OK(netipc_client_config_set_profiles(cfg, NETIPC_PROFILE_UDS, NETIPC_PROFILE_UDS));
    OK(netipc_client_config_set_timeouts(cfg, 10000, 10000));

    uint32_t kind = NETIPC_SERVICE_CGROUPS_SNAPSHOT;
    if (strcmp(mode, "increment") == 0 || strcmp(mode, "auth-rejected") == 0)
        kind = NETIPC_SERVICE_INCREMENT;
    else if (strcmp(mode, "string-reverse") == 0)
        kind = NETIPC_SERVICE_STRING_REVERSE;
    else if (strstr(mode, "cgroups-lookup"))
        kind = NETIPC_SERVICE_CGROUPS_LOOKUP;
    else if (strstr(mode, "apps-lookup"))
        kind = NETIPC_SERVICE_APPS_LOOKUP;

    netipc_client *c = NULL;
    OK(netipc_client_new(kind, S(run_dir), S(service), cfg, &c));
    netipc_client_status *st = NULL;
    OK(netipc_client_status_new(&st));

    if (strcmp(mode, "auth-rejected") == 0) {
        EXPECT_RC(netipc_client_refresh(c, NULL), NETIPC_ERR_AUTH_REJECTED);
        CHECK(netipc_client_state(c) == NETIPC_STATE_AUTH_FAILED);
        OK(netipc_client_get_status(c, st));
        CHECK(netipc_client_status_last_connect_failure(st) == NETIPC_ERR_AUTH_REJECTED);
        uint64_t answer;
        EXPECT_RC(netipc_client_call_increment(c, 1, 0, &answer), NETIPC_ERR_NOT_READY);
        /* Sticky: refreshing again does not retry. */
        EXPECT_RC(netipc_client_refresh(c, NULL), NETIPC_ERR_AUTH_REJECTED);
    } else {
        OK(refresh_until_ready(c, 20));
        CHECK(netipc_client_ready(c));
        OK(netipc_client_get_status(c, st));
        check_profile(st, shm);
    }

    if (strcmp(mode, "increment") == 0) {
        uint64_t answer = 0;
        for (uint64_t v = 0; v < 1000; v++) {
            OK(netipc_client_call_increment(c, v, 0, &answer));
            CHECK(answer == v + 1);
        }
        /* 60 items: 960 bytes, within the default 1024-byte request cap. */
        uint64_t values[60], answers[60];
        for (size_t i = 0; i < 60; i++) values[i] = i * 3;
        OK(netipc_client_call_increment_batch(c, values, 60, 0, answers));
        for (size_t i = 0; i < 60; i++) CHECK(answers[i] == values[i] + 1);
        OK(netipc_client_get_status(c, st));
        CHECK(netipc_client_status_calls(st) == 1001);
        CHECK(netipc_client_status_failures(st) == 0);
    } else if (strcmp(mode, "string-reverse") == 0) {
        const uint8_t *answer;
        size_t len;
        OK(netipc_client_call_string_reverse(c, S("hello, netipc"), 0, &answer, &len));
        CHECK(len == 13 && memcmp(answer, "cpiten ,olleh", 13) == 0);
    } else if (strcmp(mode, "snapshot") == 0) {
        size_t items = (size_t)strtoull(arg, NULL, 10);
        const netipc_cgroups *snap = NULL;
        OK(netipc_client_call_snapshot(c, 0, &snap));
        walk_synthetic(snap, items);
        /* The same through the Level 3 cache. */
        netipc_cache *cache = NULL;
        OK(netipc_cache_new(S(run_dir), S(service), cfg, &cache));
        OK(netipc_cache_refresh(cache));
        CHECK(netipc_cache_ready(cache));
        OK(netipc_cache_get_client_status(cache, st));
        check_profile(st, shm);
        const netipc_cgroups *held = NULL;
        OK(netipc_cache_acquire(cache, &held));
        walk_synthetic(held, items);
        OK(netipc_cgroups_release(held));
        char name[128], path[192];
        synthetic_item(items - 1, name, sizeof name, path, sizeof path);
        uint8_t buf[256];
        size_t len = 0;
        uint32_t enabled = 9;
        OK(netipc_cache_lookup(cache, name_hash(name, strlen(name)), S(name), NULL, &enabled,
                               buf, sizeof buf, &len));
        CHECK(len == strlen(path) && memcmp(buf, path, len) == 0 && enabled == (items - 1) % 2);
        netipc_cache_free(cache);
    } else if (strcmp(mode, "cgroups") == 0) {
        const netipc_cgroups *snap = NULL;
        OK(netipc_client_call_snapshot(c, 0, &snap));
        CHECK(netipc_cgroups_count(snap) >= 1);
        uint32_t hash = name_hash(arg, strlen(arg));
        const uint8_t *p;
        size_t pl;
        OK(netipc_cgroups_lookup(snap, hash, S(arg), NULL, NULL, &p, &pl));
        CHECK(pl >= strlen(arg) && memcmp(p + pl - strlen(arg), arg, strlen(arg)) == 0);
        printf("%zu cgroups, found %s\n", netipc_cgroups_count(snap), arg);
    } else if (strcmp(mode, "cgroups-lookup") == 0) {
        size_t count = (size_t)strtoull(arg, NULL, 10);
        lookup_cgroups_checked(c, 0, count);
        lookup_cgroups_checked(c, 7, 1);
        OK(netipc_client_get_status(c, st));
        CHECK(netipc_client_status_calls(st) > 2); /* split into several requests */
        check_profile(st, shm);
    } else if (strcmp(mode, "apps-lookup") == 0) {
        size_t count = (size_t)strtoull(arg, NULL, 10);
        lookup_apps_checked(c, 1, count);
        OK(netipc_client_get_status(c, st));
        CHECK(netipc_client_status_calls(st) > 1);
        check_profile(st, shm);
    } else if (strcmp(mode, "cli-cgroups-lookup") == 0) {
        const uint8_t *paths[2] = {(const uint8_t *)"/", (const uint8_t *)"/no/such/cgroup"};
        size_t lens[2] = {1, 15};
        const netipc_cgroups_lookup_result *r = NULL;
        OK(netipc_client_call_cgroups_lookup(c, paths, lens, 2, 0, &r));
        CHECK(netipc_cgroups_lookup_count(r) == 2);
        for (size_t i = 0; i < 2; i++) {
            const uint8_t *p;
            size_t pl;
            uint32_t status;
            OK(netipc_cgroups_lookup_item(r, i, &status, NULL, &p, &pl, NULL, NULL, NULL));
            CHECK(pl == lens[i] && memcmp(p, paths[i], pl) == 0);
            CHECK(status <= NETIPC_CGROUP_UNKNOWN_PERMANENT);
        }
    } else if (strcmp(mode, "cli-apps-lookup") == 0) {
        uint32_t pids[2] = {(uint32_t)getpid(), 4000000000u};
        const netipc_apps_lookup_result *r = NULL;
        OK(netipc_client_call_apps_lookup(c, pids, 2, 0, &r));
        CHECK(netipc_apps_lookup_count(r) == 2);
        uint32_t pid, status, ppid;
        const uint8_t *comm;
        size_t comm_len;
        OK(netipc_apps_lookup_item(r, 0, &pid, &status, &ppid, NULL, NULL, &comm, &comm_len, NULL,
                                   NULL, NULL, NULL, NULL, NULL, NULL));
        CHECK(pid == pids[0] && status == NETIPC_APP_KNOWN && ppid == (uint32_t)getppid());
        CHECK(comm_len > 0 && comm_len <= 15 && comm != NULL); /* "consumer", or a tool's */
        OK(netipc_apps_lookup_item(r, 1, &pid, &status, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                   NULL, NULL, NULL, NULL, NULL));
        CHECK(pid == pids[1] && status == NETIPC_APP_UNKNOWN);
    }

    OK(netipc_client_close(c));
    CHECK(netipc_client_state(c) == NETIPC_STATE_DISCONNECTED);
    netipc_client_status_free(st);
    netipc_client_free(c);
    netipc_client_config_free(cfg);
    printf("consumer %s ok\n", mode);
    return 0;
}
