/*
 * In-process tests of the netipc C ABI: every exported function, NULL
 * arguments, invalid values, handler failures, overflow, wrong token,
 * timeouts, a server stop that times out, and the cache under concurrent
 * refreshes.
 *
 *   api RUN_DIR
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

static const char *run_dir;
#define DIR S(run_dir)
#define TOKEN 0x5eed5eed5eedULL

/* ---- handlers ---------------------------------------------------------- */

struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open;
    int waiting;
};

static struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static void gate_set(int open) {
    pthread_mutex_lock(&gate.mu);
    gate.open = open;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
}

/* Waits until the gate opens (20 s at most, so a broken test cannot hang). */
static void gate_wait(void) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 20;
    pthread_mutex_lock(&gate.mu);
    gate.waiting++;
    pthread_cond_broadcast(&gate.cv);
    while (!gate.open)
        if (pthread_cond_timedwait(&gate.cv, &gate.mu, &deadline) != 0) break;
    gate.waiting--;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
}

/* Waits until no handler waits at the gate. */
static void gate_wait_drained(void) {
    pthread_mutex_lock(&gate.mu);
    while (gate.waiting != 0) pthread_cond_wait(&gate.cv, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
}

/* Waits until `n` handlers wait at the gate. */
static void gate_wait_for_waiters(int n) {
    pthread_mutex_lock(&gate.mu);
    while (gate.waiting < n) pthread_cond_wait(&gate.cv, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
}

static void gate_wait_for_waiter(void) { gate_wait_for_waiters(1); }

static atomic_ulong increments;

/* value + 1; 13 fails; 999 waits at the gate first. */
static netipc_result on_increment(void *ctx, uint64_t value, uint64_t *answer) {
    CHECK(ctx == &increments);
    atomic_fetch_add(&increments, 1);
    if (value == 13) return NETIPC_ERR_INTERNAL;
    if (value == 999) gate_wait();
    *answer = value + 1;
    return NETIPC_OK;
}

/* Reverses; "bad" is answered with bytes that are not UTF-8. */
static netipc_result on_reverse(void *ctx, const uint8_t *s, size_t len,
                                netipc_string_builder *answer) {
    (void)ctx;
    if (len == 3 && memcmp(s, "bad", 3) == 0) {
        const uint8_t junk[2] = {0xff, 0xfe};
        return netipc_string_builder_append(answer, junk, 2);
    }
    for (size_t i = len; i > 0; i--) OK(netipc_string_builder_append(answer, &s[i - 1], 1));
    return NETIPC_OK;
}

struct snap_ctx {
    size_t want;           /* items to try to add */
    atomic_size_t added;   /* items that fit, last call */
    atomic_int overflowed; /* an add returned NETIPC_ERR_OVERFLOW */
    int skip_begin;        /* return without begin */
    atomic_int generation; /* bumped by the test between refreshes */
};

static netipc_result on_snapshot(void *ctx, netipc_snapshot_builder *b) {
    struct snap_ctx *sc = ctx;
    if (sc->skip_begin) return NETIPC_OK;
    /* Misuse is refused without harm. */
    EXPECT_RC(netipc_snapshot_builder_add(b, 1, 0, 0, S("x"), S("/x")),
              NETIPC_ERR_INVALID_ARGUMENT);
    OK(netipc_snapshot_builder_begin(b, 0, (uint64_t)atomic_load(&sc->generation), sc->want));
    EXPECT_RC(netipc_snapshot_builder_begin(b, 0, 1, 0), NETIPC_ERR_INVALID_ARGUMENT);
    EXPECT_RC(netipc_snapshot_builder_add(b, 1, 0, 0, (const uint8_t *)"a\0b", 3, S("/x")),
              NETIPC_ERR_INVALID_ARGUMENT);
    EXPECT_RC(netipc_snapshot_builder_add(b, 1, 0, 0, NULL, 1, S("/x")),
              NETIPC_ERR_INVALID_ARGUMENT);
    for (size_t i = 0; i < sc->want; i++) {
        char name[128], path[192];
        synthetic_item(i, name, sizeof name, path, sizeof path);
        netipc_result rc = netipc_snapshot_builder_add(b, name_hash(name, strlen(name)),
                                                       (uint32_t)i, 1, S(name), S(path));
        if (rc == NETIPC_ERR_OVERFLOW) {
            atomic_store(&sc->overflowed, 1);
            break;
        }
        OK(rc);
    }
    atomic_store(&sc->added, netipc_snapshot_builder_count(b));
    return NETIPC_OK;
}

/* ---- helpers ----------------------------------------------------------- */

static netipc_client_config *client_config(uint64_t token) {
    netipc_client_config *cfg = NULL;
    OK(netipc_client_config_new(token, &cfg));
    return cfg;
}

static netipc_client *connect_client(uint32_t kind, const char *service, uint64_t token) {
    netipc_client_config *cfg = client_config(token);
    netipc_client *c = NULL;
    OK(netipc_client_new(kind, DIR, S(service), cfg, &c));
    netipc_client_config_free(cfg);
    OK(netipc_client_refresh(c, NULL));
    return c;
}

static netipc_server *start_increment(const char *service, uint32_t workers) {
    netipc_server_config *cfg = NULL;
    OK(netipc_server_config_new(TOKEN, &cfg));
    OK(netipc_server_config_set_workers(cfg, workers));
    netipc_server *s = NULL;
    OK(netipc_server_start_increment(DIR, S(service), cfg, on_increment, &increments, &s));
    netipc_server_config_free(cfg);
    return s;
}

static uint64_t stat_of(const netipc_server *s, uint32_t which) {
    uint64_t v = 0;
    OK(netipc_server_stat(s, which, &v));
    return v;
}

/* ---- tests ------------------------------------------------------------- */

static void test_results_and_auth(void) {
    size_t len = 0;
    const uint8_t *name = netipc_result_name(NETIPC_ERR_TIMEOUT, &len);
    CHECK(len == 18 && memcmp(name, "NETIPC_ERR_TIMEOUT", 18) == 0 && name[len] == 0);
    CHECK(strcmp((const char *)netipc_result_name(-5, NULL), "NETIPC_ERR_UNKNOWN") == 0);
    CHECK(strcmp(rc_name(NETIPC_ERR_ABORTED), "NETIPC_ERR_ABORTED") == 0);

    /* Same token for every spelling of one UUID, and the agent's value:
       XXH3-64 of the 16 bytes (docs/auth.md). */
    uint64_t a = 0, b = 0, env = 0;
    OK(netipc_auth_token_derive(S("550e8400-e29b-41d4-a716-446655440000"), &a));
    OK(netipc_auth_token_derive(S("550E8400E29B41D4A716446655440000"), &b));
    CHECK(a == b && a == 0xf25f3467eb84d6e6ULL);
    EXPECT_RC(netipc_auth_token_derive(S("netdata"), &a), NETIPC_ERR_INVALID_ARGUMENT);
    EXPECT_RC(netipc_auth_token_derive(NULL, 0, &a), NETIPC_ERR_INVALID_ARGUMENT);
    EXPECT_RC(netipc_auth_token_derive(NULL, 3, &a), NETIPC_ERR_INVALID_ARGUMENT);
    EXPECT_RC(netipc_auth_token_derive(S("550e8400e29b41d4a716446655440000"), NULL),
              NETIPC_ERR_INVALID_ARGUMENT);

    CHECK(setenv("NETDATA_INVOCATION_ID", "550e8400e29b41d4a716446655440000", 1) == 0);
    OK(netipc_auth_token_from_env(&env));
    CHECK(env == b);
    /* Not a UUID in the first variable: the second one is used. */
    CHECK(setenv("NETDATA_INVOCATION_ID", "netdata", 1) == 0);
    CHECK(setenv("INVOCATION_ID", "0f3c6a2b9d1e4f7a8c5b2d0e1f4a3b6c", 1) == 0);
    OK(netipc_auth_token_from_env(&env));
    OK(netipc_auth_token_derive(S("0f3c6a2b-9d1e-4f7a-8c5b-2d0e1f4a3b6c"), &a));
    CHECK(env == a && a != b);
    CHECK(unsetenv("NETDATA_INVOCATION_ID") == 0 && unsetenv("INVOCATION_ID") == 0);
    EXPECT_RC(netipc_auth_token_from_env(&env), NETIPC_ERR_NO_INVOCATION_ID);
    const uint8_t *msg = netipc_last_error(&len);
    CHECK(len > 0 && strstr((const char *)msg, "INVOCATION_ID") != NULL);
    EXPECT_RC(netipc_auth_token_from_env(NULL), NETIPC_ERR_INVALID_ARGUMENT);
}

static void test_null_and_invalid_arguments(void) {
    const netipc_result INVAL = NETIPC_ERR_INVALID_ARGUMENT;
    netipc_client_config *cc = client_config(TOKEN);
    netipc_client *c = NULL;
    uint64_t u64;
    size_t len;
    const uint8_t *p;
    const netipc_cgroups *snap;

    /* configs */
    EXPECT_RC(netipc_client_config_new(1, NULL), INVAL);
    EXPECT_RC(netipc_client_config_set_profiles(NULL, 1, 1), INVAL);
    EXPECT_RC(netipc_client_config_set_profiles(cc, 0, 0), INVAL);
    EXPECT_RC(netipc_client_config_set_profiles(cc, 8, 0), INVAL);
    EXPECT_RC(netipc_client_config_set_profiles(cc, NETIPC_PROFILE_UDS, NETIPC_PROFILE_SHM_HYBRID),
              INVAL);
    OK(netipc_client_config_set_profiles(cc, NETIPC_PROFILE_UDS | NETIPC_PROFILE_SHM_FUTEX,
                                         NETIPC_PROFILE_SHM_FUTEX));
    EXPECT_RC(netipc_client_config_set_timeouts(NULL, 1, 1), INVAL);
    EXPECT_RC(netipc_client_config_set_timeouts(cc, 0, 1), INVAL);
    EXPECT_RC(netipc_client_config_set_timeouts(cc, 1, 0), INVAL);
    EXPECT_RC(netipc_client_config_set_call_timeout(NULL, 1), INVAL);
    OK(netipc_client_config_set_call_timeout(cc, 0));
    EXPECT_RC(netipc_client_config_set_batch_items(NULL, 1), INVAL);
    EXPECT_RC(netipc_client_config_set_batch_items(cc, 0), INVAL);
    OK(netipc_client_config_set_batch_items(cc, 64));
    netipc_client_config_free(NULL);

    netipc_server_config *sc = NULL;
    EXPECT_RC(netipc_server_config_new(1, NULL), INVAL);
    OK(netipc_server_config_new(TOKEN, &sc));
    EXPECT_RC(netipc_server_config_set_workers(NULL, 1), INVAL);
    EXPECT_RC(netipc_server_config_set_workers(sc, 0), INVAL);
    EXPECT_RC(netipc_server_config_set_profiles(NULL, 1, 1), INVAL);
    EXPECT_RC(netipc_server_config_set_profiles(sc, 0, 0), INVAL);
    EXPECT_RC(netipc_server_config_set_max_response_bytes(NULL, 100), INVAL);
    EXPECT_RC(netipc_server_config_set_max_response_bytes(sc, 23), INVAL);
    EXPECT_RC(netipc_server_config_set_max_request_bytes(NULL, 0), INVAL);
    EXPECT_RC(netipc_client_config_set_max_request_bytes(NULL, 0), INVAL);
    EXPECT_RC(netipc_server_config_set_socket_mode(NULL, 0600), INVAL);
    EXPECT_RC(netipc_server_config_set_socket_mode(sc, 01000), INVAL);
    OK(netipc_server_config_set_socket_mode(sc, 0660));
    netipc_server_config_free(NULL);

    /* client creation */
    EXPECT_RC(netipc_client_new(NETIPC_SERVICE_INCREMENT, DIR, S("x"), cc, NULL), INVAL);
    EXPECT_RC(netipc_client_new(99, DIR, S("x"), cc, &c), INVAL);
    EXPECT_RC(netipc_client_new(NETIPC_SERVICE_INCREMENT, NULL, 4, S("x"), cc, &c), INVAL);
    EXPECT_RC(netipc_client_new(NETIPC_SERVICE_INCREMENT, NULL, 0, S("x"), cc, &c), INVAL);
    EXPECT_RC(netipc_client_new(NETIPC_SERVICE_INCREMENT, DIR, S("a/b"), cc, &c), INVAL);
    EXPECT_RC(netipc_client_new(NETIPC_SERVICE_INCREMENT, DIR, S(""), cc, &c), INVAL);
    EXPECT_RC(netipc_client_new(NETIPC_SERVICE_INCREMENT, DIR, S("x"), NULL, &c), INVAL);
    EXPECT_RC(netipc_client_new(NETIPC_SERVICE_INCREMENT, (const uint8_t *)"/t\0mp", 5, S("x"),
                                cc, &c),
              INVAL);
    CHECK(c == NULL);

    /* client functions on NULL */
    EXPECT_RC(netipc_client_refresh(NULL, NULL), INVAL);
    CHECK(!netipc_client_ready(NULL));
    CHECK(netipc_client_state(NULL) == NETIPC_STATE_DISCONNECTED);
    EXPECT_RC(netipc_client_close(NULL), INVAL);
    EXPECT_RC(netipc_client_abort(NULL), INVAL);
    EXPECT_RC(netipc_client_clear_abort(NULL), INVAL);
    netipc_client_free(NULL);
    EXPECT_RC(netipc_client_call_increment(NULL, 1, 0, &u64), INVAL);
    EXPECT_RC(netipc_client_call_increment_batch(NULL, &u64, 1, 0, &u64), INVAL);
    EXPECT_RC(netipc_client_call_string_reverse(NULL, S("x"), 0, &p, &len), INVAL);
    EXPECT_RC(netipc_client_call_snapshot(NULL, 0, &snap), INVAL);
    EXPECT_RC(netipc_client_get_status(NULL, NULL), INVAL);

    /* a client without provider: required out-pointers are checked first */
    OK(netipc_client_new(NETIPC_SERVICE_INCREMENT, DIR, S("nobody"), cc, &c));
    EXPECT_RC(netipc_client_call_increment(c, 1, 0, NULL), INVAL);
    EXPECT_RC(netipc_client_call_increment_batch(c, NULL, 2, 0, &u64), INVAL);
    EXPECT_RC(netipc_client_call_increment_batch(c, &u64, 2, 0, NULL), INVAL);
    EXPECT_RC(netipc_client_call_string_reverse(c, S("x"), 0, NULL, &len), INVAL);
    EXPECT_RC(netipc_client_call_string_reverse(c, S("x"), 0, &p, NULL), INVAL);
    EXPECT_RC(netipc_client_call_snapshot(c, 0, NULL), INVAL);
    EXPECT_RC(netipc_client_get_status(c, NULL), INVAL);
    netipc_client_free(c);

    /* status accessors on NULL */
    EXPECT_RC(netipc_client_status_new(NULL), INVAL);
    netipc_client_status_free(NULL);
    CHECK(netipc_client_status_state(NULL) == NETIPC_STATE_DISCONNECTED);
    CHECK(netipc_client_status_profile(NULL) == 0);
    CHECK(!netipc_client_status_shm_in_use(NULL));
    CHECK(!netipc_client_status_session_id(NULL, &u64));
    CHECK(netipc_client_status_connects(NULL) == 0);
    CHECK(netipc_client_status_reconnects(NULL) == 0);
    CHECK(netipc_client_status_calls(NULL) == 0);
    CHECK(netipc_client_status_failures(NULL) == 0);
    CHECK(netipc_client_status_overflow_recoveries(NULL) == 0);
    CHECK(netipc_client_status_last_connect_failure(NULL) == NETIPC_OK);
    CHECK(netipc_client_status_last_error(NULL, &len) != NULL && len == 0);

    /* snapshots */
    CHECK(netipc_cgroups_count(NULL) == 0);
    CHECK(netipc_cgroups_generation(NULL) == 0);
    CHECK(netipc_cgroups_systemd_enabled(NULL) == 0);
    EXPECT_RC(netipc_cgroups_item(NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL), INVAL);
    EXPECT_RC(netipc_cgroups_lookup(NULL, 0, S("x"), NULL, NULL, NULL, NULL), INVAL);
    OK(netipc_cgroups_release(NULL));

    /* cache */
    netipc_cache *cache = NULL;
    EXPECT_RC(netipc_cache_new(DIR, S("x"), cc, NULL), INVAL);
    EXPECT_RC(netipc_cache_new(DIR, S("x"), NULL, &cache), INVAL);
    EXPECT_RC(netipc_cache_new(DIR, S("x/"), cc, &cache), INVAL);
    EXPECT_RC(netipc_cache_refresh(NULL), INVAL);
    CHECK(!netipc_cache_ready(NULL));
    EXPECT_RC(netipc_cache_lookup(NULL, 0, S("x"), NULL, NULL, NULL, 0, &len), INVAL);
    EXPECT_RC(netipc_cache_acquire(NULL, &snap), INVAL);
    EXPECT_RC(netipc_cache_get_client_status(NULL, NULL), INVAL);
    EXPECT_RC(netipc_cache_counters(NULL, NULL, NULL, NULL, 0, NULL), INVAL);
    EXPECT_RC(netipc_cache_close(NULL), INVAL);
    EXPECT_RC(netipc_cache_abort(NULL), INVAL);
    EXPECT_RC(netipc_cache_clear_abort(NULL), INVAL);
    netipc_cache_free(NULL);
    OK(netipc_cache_new(DIR, S("nobody"), cc, &cache));
    EXPECT_RC(netipc_cache_lookup(cache, 0, S("x"), NULL, NULL, NULL, 0, NULL), INVAL);
    EXPECT_RC(netipc_cache_lookup(cache, 0, S("x"), NULL, NULL, NULL, 4, &len), INVAL);
    EXPECT_RC(netipc_cache_acquire(cache, NULL), INVAL);
    EXPECT_RC(netipc_cache_counters(cache, NULL, NULL, NULL, 4, NULL), INVAL);
    netipc_cache_free(cache);

    /* servers */
    netipc_server *s = NULL;
    EXPECT_RC(netipc_server_start_increment(DIR, S("x"), sc, NULL, NULL, &s), INVAL);
    EXPECT_RC(netipc_server_start_increment(DIR, S("x"), NULL, on_increment, NULL, &s), INVAL);
    EXPECT_RC(netipc_server_start_increment(DIR, S("x"), sc, on_increment, NULL, NULL), INVAL);
    EXPECT_RC(netipc_server_start_string_reverse(DIR, S("x"), sc, NULL, NULL, &s), INVAL);
    EXPECT_RC(netipc_server_start_snapshot(DIR, S("x"), sc, NULL, NULL, &s), INVAL);
    EXPECT_RC(netipc_server_start_snapshot(DIR, S(".."), sc, on_snapshot, NULL, &s), INVAL);
    CHECK(s == NULL);
    EXPECT_RC(netipc_server_stop(NULL, 10), INVAL);
    EXPECT_RC(netipc_server_stat(NULL, 0, &u64), INVAL);
    netipc_server_free(NULL);
    EXPECT_RC(netipc_string_builder_append(NULL, S("x")), INVAL);
    EXPECT_RC(netipc_snapshot_builder_begin(NULL, 0, 0, 0), INVAL);
    EXPECT_RC(netipc_snapshot_builder_add(NULL, 0, 0, 0, S("x"), S("y")), INVAL);
    CHECK(netipc_snapshot_builder_count(NULL) == 0);
    /* A run directory that does not exist. */
    EXPECT_RC(netipc_server_start_increment(S("/nonexistent/netipc"), S("x"), sc, on_increment,
                                            NULL, &s),
              NETIPC_ERR_IO);

    netipc_server_config_free(sc);
    netipc_client_config_free(cc);
}

static void test_increment(void) {
    netipc_client_config *cfg = client_config(TOKEN);
    netipc_client *c = NULL;
    OK(netipc_client_new(NETIPC_SERVICE_INCREMENT, DIR, S("inc"), cfg, &c));
    netipc_client_config_free(cfg);

    /* No provider yet. */
    bool changed = true;
    EXPECT_RC(netipc_client_refresh(c, &changed), NETIPC_ERR_NO_PROVIDER);
    CHECK(changed); /* Disconnected -> NotFound */
    CHECK(netipc_client_state(c) == NETIPC_STATE_NOT_FOUND && !netipc_client_ready(c));
    uint64_t answer = 0;
    EXPECT_RC(netipc_client_call_increment(c, 1, 0, &answer), NETIPC_ERR_NOT_READY);

    netipc_server *s = start_increment("inc", 8);
    /* A second provider for the same endpoint is refused. */
    netipc_server *dup = NULL;
    netipc_server_config *scfg = NULL;
    OK(netipc_server_config_new(TOKEN, &scfg));
    EXPECT_RC(netipc_server_start_increment(DIR, S("inc"), scfg, on_increment, &increments, &dup),
              NETIPC_ERR_ADDRESS_IN_USE);
    netipc_server_config_free(scfg);

    OK(netipc_client_refresh(c, &changed));
    CHECK(changed && netipc_client_ready(c));
    OK(netipc_client_refresh(c, &changed));
    CHECK(!changed);
    OK(netipc_client_call_increment(c, 41, 0, &answer));
    CHECK(answer == 42);
    uint64_t values[3] = {1, 2, 3}, answers[3] = {0};
    OK(netipc_client_call_increment_batch(c, values, 3, 0, answers));
    CHECK(answers[0] == 2 && answers[1] == 3 && answers[2] == 4);
    OK(netipc_client_call_increment_batch(c, NULL, 0, 0, NULL));
    /* 300 items (4800 bytes) are over the default 1024-byte request cap. */
    uint64_t many[300], many_answers[300];
    for (size_t i = 0; i < 300; i++) many[i] = i;
    EXPECT_RC(netipc_client_call_increment_batch(c, many, 300, 0, many_answers),
              NETIPC_ERR_OVERFLOW);
    OK(netipc_client_refresh(c, NULL));

    /* A failing handler: the provider answers INTERNAL_ERROR. */
    EXPECT_RC(netipc_client_call_increment(c, 13, 0, &answer), NETIPC_ERR_PROVIDER_FAILED);
    size_t len = 0;
    netipc_last_error(&len);
    CHECK(len > 0);

    /* Wrong kind of call. */
    const uint8_t *p;
    const netipc_cgroups *snap;
    EXPECT_RC(netipc_client_call_string_reverse(c, S("x"), 0, &p, &len), NETIPC_ERR_INVALID_ARGUMENT);
    EXPECT_RC(netipc_client_call_snapshot(c, 0, &snap), NETIPC_ERR_INVALID_ARGUMENT);

    /* Status. */
    netipc_client_status *st = NULL;
    OK(netipc_client_status_new(&st));
    OK(netipc_client_refresh(c, NULL));
    OK(netipc_client_get_status(c, st));
    CHECK(netipc_client_status_state(st) == NETIPC_STATE_READY);
    CHECK(netipc_client_status_shm_in_use(st));
    CHECK(netipc_client_status_profile(st) &
          (NETIPC_PROFILE_SHM_HYBRID | NETIPC_PROFILE_SHM_FUTEX));
    uint64_t id = 0;
    CHECK(netipc_client_status_session_id(st, &id) && id > 0);
    CHECK(!netipc_client_status_session_id(st, NULL));
    CHECK(netipc_client_status_connects(st) == 1);
    CHECK(netipc_client_status_reconnects(st) >= 1); /* the failed call was retried */
    CHECK(netipc_client_status_calls(st) >= 3);
    CHECK(netipc_client_status_failures(st) >= 2);
    /* The batch of 3 outgrew the first proposal (1 item of 8 bytes). */
    CHECK(netipc_client_status_overflow_recoveries(st) >= 1);
    CHECK(netipc_client_status_last_connect_failure(st) == NETIPC_ERR_NO_PROVIDER);
    const uint8_t *text = netipc_client_status_last_error(st, &len);
    CHECK(len > 0 && text != NULL);

    CHECK(stat_of(s, NETIPC_SERVER_STAT_REQUESTS) >= 4);
    CHECK(stat_of(s, NETIPC_SERVER_STAT_HANDLER_FAILURES) >= 1);
    CHECK(stat_of(s, NETIPC_SERVER_STAT_SESSIONS_SERVED) >= 1);
    CHECK(stat_of(s, NETIPC_SERVER_STAT_ACTIVE_SESSIONS) >= 1);
    (void)stat_of(s, NETIPC_SERVER_STAT_SESSIONS_REFUSED);
    uint64_t v;
    EXPECT_RC(netipc_server_stat(s, 99, &v), NETIPC_ERR_INVALID_ARGUMENT);
    EXPECT_RC(netipc_server_stat(s, 0, NULL), NETIPC_ERR_INVALID_ARGUMENT);

    /* Wrong token: rejected, sticky until close. */
    netipc_client *bad = NULL;
    netipc_client_config *badcfg = client_config(TOKEN + 1);
    OK(netipc_client_new(NETIPC_SERVICE_INCREMENT, DIR, S("inc"), badcfg, &bad));
    netipc_client_config_free(badcfg);
    EXPECT_RC(netipc_client_refresh(bad, NULL), NETIPC_ERR_AUTH_REJECTED);
    CHECK(netipc_client_state(bad) == NETIPC_STATE_AUTH_FAILED);
    EXPECT_RC(netipc_client_refresh(bad, &changed), NETIPC_ERR_AUTH_REJECTED);
    CHECK(!changed);
    OK(netipc_client_close(bad));
    CHECK(netipc_client_state(bad) == NETIPC_STATE_DISCONNECTED);
    EXPECT_RC(netipc_client_refresh(bad, NULL), NETIPC_ERR_AUTH_REJECTED);
    netipc_client_free(bad);

    OK(netipc_server_stop(s, 5000));
    OK(netipc_server_stop(s, 0)); /* already stopped */
    CHECK(stat_of(s, NETIPC_SERVER_STAT_REQUESTS) >= 4);
    netipc_server_free(s);

    /* The provider went away: the call fails, the client notices. */
    netipc_result rc = netipc_client_call_increment(c, 1, 0, &answer);
    CHECK(rc != NETIPC_OK);
    EXPECT_RC(netipc_client_refresh(c, NULL), NETIPC_ERR_NO_PROVIDER);

    netipc_client_status_free(st);
    netipc_client_free(c);
}

/* Large batches need a larger request cap on both sides. */
static void test_large_batches(void) {
    netipc_server_config *scfg = NULL;
    OK(netipc_server_config_new(TOKEN, &scfg));
    OK(netipc_server_config_set_max_request_bytes(scfg, 8192));
    netipc_server *s = NULL;
    OK(netipc_server_start_increment(DIR, S("big"), scfg, on_increment, &increments, &s));
    netipc_server_config_free(scfg);
    netipc_client_config *cfg = client_config(TOKEN);
    OK(netipc_client_config_set_max_request_bytes(cfg, 8192));
    netipc_client *c = NULL;
    OK(netipc_client_new(NETIPC_SERVICE_INCREMENT, DIR, S("big"), cfg, &c));
    netipc_client_config_free(cfg);
    OK(netipc_client_refresh(c, NULL));
    uint64_t values[300], answers[300];
    for (size_t i = 0; i < 300; i++) values[i] = i * 7;
    OK(netipc_client_call_increment_batch(c, values, 300, 0, answers));
    for (size_t i = 0; i < 300; i++) CHECK(answers[i] == values[i] + 1);
    netipc_client_free(c);
    netipc_server_free(s);
}

static void test_string_reverse(void) {
    netipc_server_config *cfg = NULL;
    OK(netipc_server_config_new(TOKEN, &cfg));
    OK(netipc_server_config_set_profiles(cfg, NETIPC_PROFILE_UDS, NETIPC_PROFILE_UDS));
    netipc_server *s = NULL;
    OK(netipc_server_start_string_reverse(DIR, S("rev"), cfg, on_reverse, NULL, &s));
    netipc_server_config_free(cfg);

    netipc_client *c = connect_client(NETIPC_SERVICE_STRING_REVERSE, "rev", TOKEN);
    const uint8_t *answer;
    size_t len;
    OK(netipc_client_call_string_reverse(c, S("abc"), 0, &answer, &len));
    CHECK(len == 3 && memcmp(answer, "cba", 3) == 0);
    OK(netipc_client_call_string_reverse(c, NULL, 0, 0, &answer, &len));
    CHECK(len == 0);
    EXPECT_RC(netipc_client_call_string_reverse(c, (const uint8_t *)"\xff", 1, 0, &answer, &len),
              NETIPC_ERR_INVALID_ARGUMENT);
    EXPECT_RC(netipc_client_call_string_reverse(c, S("bad"), 0, &answer, &len),
              NETIPC_ERR_PROVIDER_FAILED);
    uint64_t v;
    EXPECT_RC(netipc_client_call_increment(c, 1, 0, &v), NETIPC_ERR_INVALID_ARGUMENT);

    /* An INCREMENT client at a STRING_REVERSE endpoint: the provider does
       not serve that method. */
    netipc_client *wrong = connect_client(NETIPC_SERVICE_INCREMENT, "rev", TOKEN);
    EXPECT_RC(netipc_client_call_increment(wrong, 1, 0, &v), NETIPC_ERR_INCOMPATIBLE);
    netipc_client_free(wrong);

    netipc_client_free(c);
    netipc_server_free(s);
}

static void test_snapshot_overflow(void) {
    /* A 4 KiB cap: 100 items do not fit; the handler sends what does. */
    struct snap_ctx sc = {.want = 100};
    netipc_server_config *cfg = NULL;
    OK(netipc_server_config_new(TOKEN, &cfg));
    OK(netipc_server_config_set_max_response_bytes(cfg, 4096));
    netipc_server *s = NULL;
    OK(netipc_server_start_snapshot(DIR, S("snap"), cfg, on_snapshot, &sc, &s));
    netipc_server_config_free(cfg);

    netipc_client *c = connect_client(NETIPC_SERVICE_CGROUPS_SNAPSHOT, "snap", TOKEN);
    const netipc_cgroups *snap = NULL;
    OK(netipc_client_call_snapshot(c, 0, &snap));
    CHECK(atomic_load(&sc.overflowed));
    size_t fit = atomic_load(&sc.added);
    CHECK(fit > 0 && fit < 100);
    CHECK(netipc_cgroups_count(snap) == fit);
    /* Past the end. */
    EXPECT_RC(netipc_cgroups_item(snap, fit, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
              NETIPC_ERR_INVALID_ARGUMENT);
    /* Every out-pointer is optional. */
    OK(netipc_cgroups_item(snap, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL));
    EXPECT_RC(netipc_cgroups_lookup(snap, 1, S("nope"), NULL, NULL, NULL, NULL),
              NETIPC_ERR_NOT_FOUND);
    /* A lent snapshot is not released by the caller. */
    EXPECT_RC(netipc_cgroups_release(snap), NETIPC_ERR_INVALID_ARGUMENT);
    CHECK(netipc_cgroups_count(snap) == fit);

    /* A handler that never begins: INTERNAL_ERROR on the wire. */
    sc.skip_begin = 1;
    EXPECT_RC(netipc_client_call_snapshot(c, 0, &snap), NETIPC_ERR_PROVIDER_FAILED);
    netipc_client_free(c);
    OK(netipc_server_stop(s, 5000));
    netipc_server_free(s);
}

/* ---- cache under concurrent refreshes ---------------------------------- */

struct cache_run {
    netipc_cache *cache;
    size_t items;
    atomic_int stop;
    atomic_ulong lookups;
};

static void *refresher(void *arg) {
    struct cache_run *run = arg;
    for (int i = 0; i < 60; i++) OK(netipc_cache_refresh(run->cache));
    atomic_store(&run->stop, 1);
    return NULL;
}

static void *looker(void *arg) {
    struct cache_run *run = arg;
    size_t i = 0;
    while (!atomic_load(&run->stop) || atomic_load(&run->lookups) < 1000) {
        char name[128], path[192];
        synthetic_item(i % run->items, name, sizeof name, path, sizeof path);
        uint8_t buf[256];
        size_t len = 0;
        uint32_t options = 0;
        OK(netipc_cache_lookup(run->cache, name_hash(name, strlen(name)), S(name), &options, NULL,
                               buf, sizeof buf, &len));
        CHECK(len == strlen(path) && memcmp(buf, path, len) == 0 &&
              options == i % run->items);
        const netipc_cgroups *held = NULL;
        OK(netipc_cache_acquire(run->cache, &held));
        CHECK(netipc_cgroups_count(held) == run->items);
        OK(netipc_cgroups_release(held));
        atomic_fetch_add(&run->lookups, 1);
        i++;
    }
    return NULL;
}

static void test_cache(void) {
    struct snap_ctx sc = {.want = 50};
    atomic_store(&sc.generation, 1);
    netipc_server_config *scfg = NULL;
    OK(netipc_server_config_new(TOKEN, &scfg));
    netipc_server *s = NULL;
    OK(netipc_server_start_snapshot(DIR, S("cgroups"), scfg, on_snapshot, &sc, &s));
    netipc_server_config_free(scfg);

    netipc_client_config *cfg = client_config(TOKEN);
    netipc_cache *cache = NULL;
    OK(netipc_cache_new(DIR, S("cgroups"), cfg, &cache));
    netipc_client_config_free(cfg);
    CHECK(!netipc_cache_ready(cache));
    size_t len = 0;
    EXPECT_RC(netipc_cache_lookup(cache, 1, S("x"), NULL, NULL, NULL, 0, &len),
              NETIPC_ERR_NOT_FOUND);
    OK(netipc_cache_refresh(cache));
    CHECK(netipc_cache_ready(cache));

    /* Copy-out into a buffer that is too small reports the size. */
    char name[128], path[192];
    synthetic_item(3, name, sizeof name, path, sizeof path);
    uint8_t small[4];
    EXPECT_RC(netipc_cache_lookup(cache, name_hash(name, strlen(name)), S(name), NULL, NULL,
                                  small, sizeof small, &len),
              NETIPC_ERR_OVERFLOW);
    CHECK(len == strlen(path));

    /* A held snapshot survives refreshes and close. */
    const netipc_cgroups *held = NULL;
    OK(netipc_cache_acquire(cache, &held));
    CHECK(netipc_cgroups_generation(held) == 1);
    atomic_store(&sc.generation, 2);
    OK(netipc_cache_refresh(cache));
    const netipc_cgroups *fresh = NULL;
    OK(netipc_cache_acquire(cache, &fresh));
    CHECK(netipc_cgroups_generation(fresh) == 2 && netipc_cgroups_generation(held) == 1);
    OK(netipc_cgroups_release(fresh));

    struct cache_run run = {.cache = cache, .items = 50};
    pthread_t t1, t2, t3;
    CHECK(pthread_create(&t1, NULL, refresher, &run) == 0);
    CHECK(pthread_create(&t2, NULL, looker, &run) == 0);
    CHECK(pthread_create(&t3, NULL, looker, &run) == 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    pthread_join(t3, NULL);

    uint64_t ok = 0, failed = 0;
    char err[256];
    OK(netipc_cache_counters(cache, &ok, &failed, (uint8_t *)err, sizeof err, &len));
    CHECK(ok == 62 && failed == 0 && len == 0);
    OK(netipc_cache_counters(cache, NULL, NULL, NULL, 0, NULL));

    netipc_client_status *st = NULL;
    OK(netipc_client_status_new(&st));
    OK(netipc_cache_get_client_status(cache, st));
    CHECK(netipc_client_status_state(st) == NETIPC_STATE_READY);

    /* An aborted cache refuses to refresh and keeps serving lookups. */
    OK(netipc_cache_abort(cache));
    EXPECT_RC(netipc_cache_refresh(cache), NETIPC_ERR_ABORTED);
    CHECK(netipc_cache_ready(cache));
    EXPECT_RC(netipc_cache_lookup(cache, name_hash(name, strlen(name)), S(name), NULL, NULL,
                                  NULL, 0, &len),
              NETIPC_ERR_OVERFLOW);
    OK(netipc_cache_clear_abort(cache));
    OK(netipc_cache_refresh(cache));

    /* The provider goes away: refresh fails, the old snapshot stays. */
    OK(netipc_server_stop(s, 5000));
    netipc_server_free(s);
    CHECK(netipc_cache_refresh(cache) != NETIPC_OK);
    CHECK(netipc_cache_ready(cache));
    OK(netipc_cache_counters(cache, &ok, &failed, (uint8_t *)err, 8, &len));
    CHECK(failed == 2 && len > 0); /* the aborted refresh and this one */
    EXPECT_RC(netipc_cache_lookup(cache, name_hash(name, strlen(name)), S(name), NULL, NULL,
                                  NULL, 0, &len),
              NETIPC_ERR_OVERFLOW);
    CHECK(len == strlen(path));

    OK(netipc_cache_close(cache));
    CHECK(!netipc_cache_ready(cache));
    CHECK(netipc_cgroups_count(held) == 50);
    netipc_cache_free(cache);
    /* References outlive the cache. */
    CHECK(netipc_cgroups_count(held) == 50);
    OK(netipc_cgroups_release(held));
    netipc_client_status_free(st);
}

/* ---- timeouts ---------------------------------------------------------- */

struct call_arg {
    netipc_client *c;
    netipc_result rc;
};

static void *call_999(void *arg) {
    struct call_arg *a = arg;
    uint64_t answer;
    a->rc = netipc_client_call_increment(a->c, 999, 0, &answer);
    return NULL;
}

static void test_timeouts(void) {
    netipc_server *s = start_increment("slow", 8);

    /* A call to a handler that does not answer in time. */
    gate_set(0);
    netipc_client_config *cfg = client_config(TOKEN);
    OK(netipc_client_config_set_timeouts(cfg, 5000, 200));
    netipc_client *c = NULL;
    OK(netipc_client_new(NETIPC_SERVICE_INCREMENT, DIR, S("slow"), cfg, &c));
    netipc_client_config_free(cfg);
    OK(netipc_client_refresh(c, NULL));
    uint64_t answer;
    EXPECT_RC(netipc_client_call_increment(c, 999, 0, &answer), NETIPC_ERR_TIMEOUT);
    CHECK(netipc_client_state(c) == NETIPC_STATE_BROKEN);
    gate_set(1);
    gate_wait_drained();
    OK(netipc_client_refresh(c, NULL));
    OK(netipc_client_call_increment(c, 5, 0, &answer));
    CHECK(answer == 6);
    netipc_client_free(c);

    /* A per-call deadline, with the client's defaults otherwise. */
    gate_set(0);
    netipc_client *bounded = connect_client(NETIPC_SERVICE_INCREMENT, "slow", TOKEN);
    double started = now_s();
    EXPECT_RC(netipc_client_call_increment(bounded, 999, 300, &answer), NETIPC_ERR_TIMEOUT);
    CHECK(now_s() - started < 20); /* far below the 30 s default */
    CHECK(netipc_client_state(bounded) == NETIPC_STATE_BROKEN);

    /* Abort from another thread: the blocked call returns ABORTED, and so
       does everything until the abort is cleared. */
    OK(netipc_client_refresh(bounded, NULL));
    struct call_arg aborted = {bounded, NETIPC_OK};
    pthread_t waiter;
    CHECK(pthread_create(&waiter, NULL, call_999, &aborted) == 0);
    /* The timed-out call's handler still waits; this call's is the second. */
    gate_wait_for_waiters(2);
    OK(netipc_client_abort(bounded));
    pthread_join(waiter, NULL);
    CHECK(aborted.rc == NETIPC_ERR_ABORTED);
    EXPECT_RC(netipc_client_call_increment(bounded, 5, 0, &answer), NETIPC_ERR_ABORTED);
    EXPECT_RC(netipc_client_refresh(bounded, NULL), NETIPC_ERR_ABORTED);
    OK(netipc_client_clear_abort(bounded));
    gate_set(1);
    gate_wait_drained();
    OK(netipc_client_refresh(bounded, NULL));
    OK(netipc_client_call_increment(bounded, 5, 0, &answer));
    CHECK(answer == 6);
    netipc_client_free(bounded);

    /* Stopping while a handler is busy: the stop times out, then succeeds. */
    gate_set(0);
    netipc_client *busy = connect_client(NETIPC_SERVICE_INCREMENT, "slow", TOKEN);
    struct call_arg arg = {busy, NETIPC_OK};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, call_999, &arg) == 0);
    gate_wait_for_waiter();
    EXPECT_RC(netipc_server_stop(s, 50), NETIPC_ERR_TIMEOUT);
    EXPECT_RC(netipc_server_stop(s, 0), NETIPC_ERR_TIMEOUT);
    gate_set(1);
    OK(netipc_server_stop(s, 20000));
    pthread_join(t, NULL);
    netipc_client_free(busy);
    netipc_server_free(s);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: api RUN_DIR\n");
        return 2;
    }
    run_dir = argv[1];
    test_results_and_auth();
    test_null_and_invalid_arguments();
    test_increment();
    test_large_batches();
    test_string_reverse();
    test_snapshot_overflow();
    test_cache();
    test_timeouts();
    printf("api ok\n");
    return 0;
}
