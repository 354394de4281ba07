/*
 * In-process tests of the lookup part of the netipc C ABI: NULL arguments,
 * wrong kinds, the reply's rules, handler failures, a full response
 * (PAYLOAD_EXCEEDED, asked again by the client) and an oversized answer,
 * the key ceiling, and a call that times out and one that is aborted.
 *
 *   lookup RUN_DIR
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>

#include "lookup_common.h"

static const char *run_dir;
#define DIR S(run_dir)
#define TOKEN 0x10c4ULL
#define INVAL NETIPC_ERR_INVALID_ARGUMENT

/* ---- handlers ---------------------------------------------------------- */

/* Checks everything a reply refuses, then answers like on_cgroups_lookup. */
static netipc_result on_cgroups_strict(void *ctx, const netipc_lookup_request *req,
                                       netipc_lookup_reply *reply) {
    const uint8_t *p;
    size_t len;
    uint32_t pid;
    EXPECT_RC(netipc_lookup_request_path(NULL, 0, &p, &len), INVAL);
    EXPECT_RC(netipc_lookup_request_path(req, 0, NULL, &len), INVAL);
    EXPECT_RC(netipc_lookup_request_path(req, 0, &p, NULL), INVAL);
    EXPECT_RC(netipc_lookup_request_path(req, netipc_lookup_request_count(req), &p, &len), INVAL);
    EXPECT_RC(netipc_lookup_request_pid(req, 0, &pid), INVAL); /* paths, not PIDs */
    CHECK(netipc_lookup_request_count(NULL) == 0);
    EXPECT_RC(netipc_lookup_reply_add_label(NULL, S("k"), S("v")), INVAL);
    EXPECT_RC(netipc_lookup_reply_add_label(reply, NULL, 1, S("v")), INVAL);
    EXPECT_RC(netipc_lookup_reply_add_cgroup_known(NULL, 0, S("n")), INVAL);
    EXPECT_RC(netipc_lookup_reply_add_cgroup_known(reply, 0, NULL, 3), INVAL);
    EXPECT_RC(netipc_lookup_reply_add_cgroup_known(reply, 70000, S("n")), INVAL);
    EXPECT_RC(netipc_lookup_reply_add_cgroup_known(reply, 1, (const uint8_t *)"a\0b", 3), INVAL);
    EXPECT_RC(netipc_lookup_reply_add_cgroup_unknown(NULL, 1), INVAL);
    EXPECT_RC(netipc_lookup_reply_add_cgroup_unknown(reply, NETIPC_CGROUP_KNOWN), INVAL);
    EXPECT_RC(netipc_lookup_reply_add_cgroup_unknown(reply, NETIPC_CGROUP_OVERSIZED_ITEM), INVAL);
    EXPECT_RC(netipc_lookup_reply_add_cgroup_unknown(reply, 3), INVAL); /* PAYLOAD_EXCEEDED */
    /* Labels only on a known cgroup; an empty key is refused. */
    OK(netipc_lookup_reply_add_label(reply, S("k"), S("v")));
    EXPECT_RC(netipc_lookup_reply_add_cgroup_unknown(reply, NETIPC_CGROUP_UNKNOWN_PERMANENT),
              INVAL);
    OK(netipc_lookup_reply_add_label(reply, NULL, 0, S("v")));
    EXPECT_RC(netipc_lookup_reply_add_cgroup_known(reply, 1, S("n")), INVAL);
    /* An APPS_LOOKUP answer on a CGROUPS_LOOKUP reply. */
    EXPECT_RC(netipc_lookup_reply_add_app_unknown(reply), INVAL);
    EXPECT_RC(netipc_lookup_reply_add_app_known(reply, 1, 1, 1, S("c"), 0, 0, S("/p"), S("n")),
              INVAL);
    EXPECT_RC(netipc_lookup_reply_add_app_known(NULL, 1, 1, 1, S("c"), 0, 0, S("/p"), S("n")),
              INVAL);
    EXPECT_RC(netipc_lookup_reply_add_app_unknown(NULL), INVAL);
    EXPECT_RC(netipc_lookup_reply_set_generation(NULL, 1), INVAL);
    CHECK(!netipc_lookup_reply_exceeded(NULL));
    CHECK(!netipc_lookup_reply_exceeded(reply));
    /* Nothing was added: the real answers follow. */
    netipc_result rc = on_cgroups_lookup(ctx, req, reply);
    if (rc != NETIPC_OK) return rc;
    /* Every key has its answer now. */
    EXPECT_RC(netipc_lookup_reply_add_cgroup_unknown(reply, NETIPC_CGROUP_UNKNOWN_PERMANENT),
              INVAL);
    return NETIPC_OK;
}

static netipc_result on_apps_strict(void *ctx, const netipc_lookup_request *req,
                                    netipc_lookup_reply *reply) {
    uint32_t pid;
    const uint8_t *p;
    size_t len;
    EXPECT_RC(netipc_lookup_request_pid(NULL, 0, &pid), INVAL);
    EXPECT_RC(netipc_lookup_request_pid(req, 0, NULL), INVAL);
    EXPECT_RC(netipc_lookup_request_pid(req, netipc_lookup_request_count(req), &pid), INVAL);
    EXPECT_RC(netipc_lookup_request_path(req, 0, &p, &len), INVAL); /* PIDs, not paths */
    /* comm of 16 bytes, a bad cgroup status, a known cgroup without path. */
    EXPECT_RC(netipc_lookup_reply_add_app_known(reply, 1, 1, 1, S("0123456789abcdef"), 0, 0,
                                                S("/p"), S("n")),
              INVAL);
    EXPECT_RC(netipc_lookup_reply_add_app_known(reply, 1, 1, 1, S("c"), 9, 0, S("/p"), S("n")),
              INVAL);
    EXPECT_RC(netipc_lookup_reply_add_app_known(reply, 1, 1, 1, S("c"), NETIPC_APP_CGROUP_KNOWN,
                                                0, NULL, 0, S("n")),
              INVAL);
    EXPECT_RC(netipc_lookup_reply_add_app_known(reply, 1, 1, 1, NULL, 2, 2, 0, S("/p"), S("n")),
              INVAL);
    EXPECT_RC(netipc_lookup_reply_add_cgroup_known(reply, 0, S("n")), INVAL);
    /* Labels on an unknown PID are refused, and consumed. */
    OK(netipc_lookup_reply_add_label(reply, S("k"), S("v")));
    EXPECT_RC(netipc_lookup_reply_add_app_unknown(reply), INVAL);
    return on_apps_lookup(ctx, req, reply);
}

static netipc_result on_fail(void *ctx, const netipc_lookup_request *req,
                             netipc_lookup_reply *reply) {
    (void)ctx;
    (void)req;
    (void)reply;
    return NETIPC_ERR_IO;
}

/* Answers only the first key. */
static netipc_result on_half(void *ctx, const netipc_lookup_request *req,
                             netipc_lookup_reply *reply) {
    (void)ctx;
    (void)req;
    return netipc_lookup_reply_add_app_unknown(reply);
}

static atomic_int exceeded_seen;

/* Known answers with 4 KiB names: a request's answers do not fit one
 * 64 KiB response. Path number 1 gets a 70,000-byte name: never fits. */
static netipc_result on_big(void *ctx, const netipc_lookup_request *req,
                            netipc_lookup_reply *reply) {
    (void)ctx;
    static char name[70000];
    memset(name, 'x', sizeof name);
    size_t n = netipc_lookup_request_count(req);
    for (size_t i = 0; i < n; i++) {
        if (netipc_lookup_reply_exceeded(reply)) {
            atomic_fetch_add(&exceeded_seen, 1);
            break;
        }
        const uint8_t *p;
        size_t len;
        TRY(netipc_lookup_request_path(req, i, &p, &len));
        size_t k = path_number(p, len);
        netipc_result rc = netipc_lookup_reply_add_cgroup_known(
            reply, NETIPC_ORCHESTRATOR_SYSTEMD, (const uint8_t *)name, k == 1 ? 70000 : 4096);
        if (rc != NETIPC_OK) EXPECT_RC(rc, NETIPC_ERR_OVERFLOW);
    }
    return netipc_lookup_reply_set_generation(reply, 5);
}

/* Blocks until released, for the timeout and abort tests. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open, gate_waiting;

static netipc_result on_slow(void *ctx, const netipc_lookup_request *req,
                             netipc_lookup_reply *reply) {
    pthread_mutex_lock(&gate_mu);
    gate_waiting++;
    pthread_cond_broadcast(&gate_cv);
    while (!gate_open) pthread_cond_wait(&gate_cv, &gate_mu);
    gate_waiting--;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    return on_apps_lookup(ctx, req, reply);
}

/* ---- helpers ----------------------------------------------------------- */

static netipc_server *start(int apps, const char *service, netipc_lookup_fn f) {
    netipc_server_config *cfg = NULL;
    OK(netipc_server_config_new(TOKEN, &cfg));
    netipc_server *s = NULL;
    if (apps)
        OK(netipc_server_start_apps_lookup(DIR, S(service), cfg, f, NULL, &s));
    else
        OK(netipc_server_start_cgroups_lookup(DIR, S(service), cfg, f, NULL, &s));
    netipc_server_config_free(cfg);
    return s;
}

static netipc_client *connect_client(uint32_t kind, const char *service) {
    netipc_client_config *cfg = NULL;
    OK(netipc_client_config_new(TOKEN, &cfg));
    netipc_client *c = NULL;
    OK(netipc_client_new(kind, DIR, S(service), cfg, &c));
    netipc_client_config_free(cfg);
    OK(refresh_until_ready(c, 20));
    return c;
}

static void stop(netipc_server *s) {
    OK(netipc_server_stop(s, 5000));
    netipc_server_free(s);
}

/* ---- tests ------------------------------------------------------------- */

static void test_null_arguments(void) {
    const netipc_cgroups_lookup_result *cr = NULL;
    const netipc_apps_lookup_result *ar = NULL;
    netipc_server_config *cfg = NULL;
    netipc_server *s = NULL;
    OK(netipc_server_config_new(TOKEN, &cfg));
    EXPECT_RC(netipc_server_start_cgroups_lookup(DIR, S("l"), cfg, NULL, NULL, &s), INVAL);
    EXPECT_RC(netipc_server_start_cgroups_lookup(DIR, S("l"), cfg, on_fail, NULL, NULL), INVAL);
    EXPECT_RC(netipc_server_start_cgroups_lookup(DIR, S("l"), NULL, on_fail, NULL, &s), INVAL);
    EXPECT_RC(netipc_server_start_apps_lookup(NULL, 3, S("l"), cfg, on_fail, NULL, &s), INVAL);
    EXPECT_RC(netipc_server_start_apps_lookup(DIR, S("a/b"), cfg, on_fail, NULL, &s), INVAL);
    EXPECT_RC(netipc_server_start_apps_lookup(DIR, S("l"), cfg, NULL, NULL, &s), INVAL);
    netipc_server_config_free(cfg);

    uint32_t pid = 1;
    const uint8_t *path = (const uint8_t *)"/x";
    size_t len = 2;
    EXPECT_RC(netipc_client_call_cgroups_lookup(NULL, &path, &len, 1, 0, &cr), INVAL);
    EXPECT_RC(netipc_client_call_apps_lookup(NULL, &pid, 1, 0, &ar), INVAL);

    netipc_client_config *cc = NULL;
    OK(netipc_client_config_new(TOKEN, &cc));
    netipc_client *c = NULL, *a = NULL;
    OK(netipc_client_new(NETIPC_SERVICE_CGROUPS_LOOKUP, DIR, S("nobody"), cc, &c));
    OK(netipc_client_new(NETIPC_SERVICE_APPS_LOOKUP, DIR, S("nobody"), cc, &a));
    EXPECT_RC(netipc_client_new(6, DIR, S("x"), cc, &c), INVAL);
    netipc_client_config_free(cc);
    EXPECT_RC(netipc_client_call_cgroups_lookup(c, &path, &len, 1, 0, NULL), INVAL);
    EXPECT_RC(netipc_client_call_cgroups_lookup(c, NULL, &len, 1, 0, &cr), INVAL);
    EXPECT_RC(netipc_client_call_cgroups_lookup(c, &path, NULL, 1, 0, &cr), INVAL);
    const uint8_t *null_path = NULL;
    EXPECT_RC(netipc_client_call_cgroups_lookup(c, &null_path, &len, 1, 0, &cr), INVAL);
    EXPECT_RC(netipc_client_call_apps_lookup(a, &pid, 1, 0, NULL), INVAL);
    EXPECT_RC(netipc_client_call_apps_lookup(a, NULL, 1, 0, &ar), INVAL);
    /* Wrong kinds, and not connected. */
    EXPECT_RC(netipc_client_call_apps_lookup(c, &pid, 1, 0, &ar), INVAL);
    EXPECT_RC(netipc_client_call_cgroups_lookup(a, &path, &len, 1, 0, &cr), INVAL);
    uint64_t answer;
    EXPECT_RC(netipc_client_call_increment(a, 1, 0, &answer), INVAL);
    EXPECT_RC(netipc_client_call_cgroups_lookup(c, &path, &len, 1, 0, &cr), NETIPC_ERR_NOT_READY);
    EXPECT_RC(netipc_client_call_apps_lookup(a, &pid, 1, 0, &ar), NETIPC_ERR_NOT_READY);
    netipc_client_free(c);
    netipc_client_free(a);

    /* Result accessors. */
    CHECK(netipc_cgroups_lookup_count(NULL) == 0);
    CHECK(netipc_cgroups_lookup_generation(NULL) == 0);
    CHECK(netipc_apps_lookup_count(NULL) == 0);
    CHECK(netipc_apps_lookup_generation(NULL) == 0);
    EXPECT_RC(netipc_cgroups_lookup_item(NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL), INVAL);
    EXPECT_RC(netipc_cgroups_lookup_label(NULL, 0, 0, NULL, NULL, NULL, NULL), INVAL);
    EXPECT_RC(netipc_apps_lookup_item(NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                      NULL, NULL, NULL, NULL, NULL, NULL),
              INVAL);
    EXPECT_RC(netipc_apps_lookup_label(NULL, 0, 0, NULL, NULL, NULL, NULL), INVAL);
}

static void test_round_trip_and_rules(void) {
    netipc_server *cs = start(0, "cg", on_cgroups_strict);
    netipc_server *as = start(1, "apps", on_apps_strict);
    netipc_client *c = connect_client(NETIPC_SERVICE_CGROUPS_LOOKUP, "cg");
    netipc_client *a = connect_client(NETIPC_SERVICE_APPS_LOOKUP, "apps");

    lookup_cgroups_checked(c, 0, 30);
    lookup_apps_checked(a, 0, 100);
    /* No keys: one call that reports the generation. */
    const netipc_cgroups_lookup_result *cr = NULL;
    OK(netipc_client_call_cgroups_lookup(c, NULL, NULL, 0, 0, &cr));
    CHECK(netipc_cgroups_lookup_count(cr) == 0 && netipc_cgroups_lookup_generation(cr) == 42);
    EXPECT_RC(netipc_cgroups_lookup_item(cr, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL), INVAL);
    const netipc_apps_lookup_result *ar = NULL;
    OK(netipc_client_call_apps_lookup(a, NULL, 0, 0, &ar));
    CHECK(netipc_apps_lookup_count(ar) == 0 && netipc_apps_lookup_generation(ar) == 43);
    EXPECT_RC(netipc_apps_lookup_item(ar, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                      NULL, NULL, NULL, NULL, NULL),
              INVAL);
    /* Labels past the end. */
    uint32_t four = 4;
    OK(netipc_client_call_apps_lookup(a, &four, 1, 0, &ar));
    EXPECT_RC(netipc_apps_lookup_label(ar, 0, 1, NULL, NULL, NULL, NULL), INVAL);
    EXPECT_RC(netipc_apps_lookup_label(ar, 1, 0, NULL, NULL, NULL, NULL), INVAL);
    /* Keys the client refuses before any I/O. */
    const uint8_t *empty = (const uint8_t *)"";
    size_t zero = 0;
    EXPECT_RC(netipc_client_call_cgroups_lookup(c, &empty, &zero, 1, 0, &cr), INVAL);
    size_t many = 65537;
    uint32_t *pids = calloc(many, sizeof *pids);
    CHECK(pids);
    EXPECT_RC(netipc_client_call_apps_lookup(a, pids, many, 0, &ar), NETIPC_ERR_OVERFLOW);
    free(pids);
    /* Still usable. */
    lookup_apps_checked(a, 1000, 3);

    netipc_client_free(c);
    netipc_client_free(a);
    stop(cs);
    stop(as);
}

static void test_handler_failures(void) {
    netipc_server *fail = start(0, "fail", on_fail);
    netipc_server *half = start(1, "half", on_half);
    netipc_client *c = connect_client(NETIPC_SERVICE_CGROUPS_LOOKUP, "fail");
    netipc_client *a = connect_client(NETIPC_SERVICE_APPS_LOOKUP, "half");
    const uint8_t *path = (const uint8_t *)"/x";
    size_t len = 2;
    const netipc_cgroups_lookup_result *cr = NULL;
    EXPECT_RC(netipc_client_call_cgroups_lookup(c, &path, &len, 1, 0, &cr),
              NETIPC_ERR_PROVIDER_FAILED);
    uint32_t pids[2] = {1, 2};
    const netipc_apps_lookup_result *ar = NULL;
    /* One key answered by a handler that answers one: fine. Two: failure. */
    OK(netipc_client_call_apps_lookup(a, pids, 1, 0, &ar));
    OK(refresh_until_ready(a, 20));
    EXPECT_RC(netipc_client_call_apps_lookup(a, pids, 2, 0, &ar), NETIPC_ERR_PROVIDER_FAILED);
    netipc_client_free(c);
    netipc_client_free(a);
    uint64_t failures = 0;
    OK(netipc_server_stat(fail, NETIPC_SERVER_STAT_HANDLER_FAILURES, &failures));
    CHECK(failures >= 1);
    stop(fail);
    stop(half);
}

static void test_full_responses(void) {
    netipc_server *s = start(0, "big", on_big);
    netipc_client *c = connect_client(NETIPC_SERVICE_CGROUPS_LOOKUP, "big");
    enum { N = 40 };
    char paths[N][48];
    const uint8_t *ptrs[N];
    size_t lens[N];
    for (size_t i = 0; i < N; i++) {
        lookup_path(i, paths[i], sizeof paths[i]);
        ptrs[i] = (const uint8_t *)paths[i];
        lens[i] = strlen(paths[i]);
    }
    const netipc_cgroups_lookup_result *r = NULL;
    OK(netipc_client_call_cgroups_lookup(c, ptrs, lens, N, 0, &r));
    CHECK(netipc_cgroups_lookup_count(r) == N && netipc_cgroups_lookup_generation(r) == 5);
    for (size_t i = 0; i < N; i++) {
        uint32_t status;
        const uint8_t *p;
        size_t pl, nl;
        OK(netipc_cgroups_lookup_item(r, i, &status, NULL, &p, &pl, NULL, &nl, NULL));
        CHECK(pl == lens[i] && memcmp(p, paths[i], pl) == 0);
        if (i == 1)
            CHECK(status == NETIPC_CGROUP_OVERSIZED_ITEM && nl == 0);
        else
            CHECK(status == NETIPC_CGROUP_KNOWN && nl == 4096);
    }
    CHECK(atomic_load(&exceeded_seen) > 0);
    netipc_client_free(c);
    stop(s);
}

struct call_arg {
    netipc_client *c;
    netipc_result rc;
};

static void *call_apps(void *arg) {
    struct call_arg *a = arg;
    uint32_t pid = 2;
    const netipc_apps_lookup_result *r = NULL;
    a->rc = netipc_client_call_apps_lookup(a->c, &pid, 1, 60000, &r);
    return NULL;
}

/* Waits until `n` handler calls are blocked at the gate. */
static void wait_for_handlers(int n) {
    pthread_mutex_lock(&gate_mu);
    while (gate_waiting < n) pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

static void test_timeout_and_abort(void) {
    netipc_server *s = start(1, "slow", on_slow);
    netipc_client *a = connect_client(NETIPC_SERVICE_APPS_LOOKUP, "slow");
    uint32_t pid = 2;
    const netipc_apps_lookup_result *r = NULL;
    EXPECT_RC(netipc_client_call_apps_lookup(a, &pid, 1, 200, &r), NETIPC_ERR_TIMEOUT);

    OK(refresh_until_ready(a, 20));
    struct call_arg arg = {a, NETIPC_OK};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, call_apps, &arg) == 0);
    wait_for_handlers(2); /* the timed-out call's and this one's */
    OK(netipc_client_abort(a));
    CHECK(pthread_join(t, NULL) == 0);
    EXPECT_RC(arg.rc, NETIPC_ERR_ABORTED);

    pthread_mutex_lock(&gate_mu);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    OK(netipc_client_clear_abort(a));
    OK(refresh_until_ready(a, 20));
    OK(netipc_client_call_apps_lookup(a, &pid, 1, 0, &r));
    check_app_answer(r, 0, 2);
    OK(netipc_client_close(a));
    netipc_client_free(a);
    stop(s);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: lookup RUN_DIR\n");
        return 2;
    }
    run_dir = argv[1];
    test_null_arguments();
    test_round_trip_and_rules();
    test_handler_failures();
    test_full_responses();
    test_timeout_and_abort();
    printf("lookup ok\n");
    return 0;
}
