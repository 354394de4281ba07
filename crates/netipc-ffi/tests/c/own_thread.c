/*
 * A provider served on a thread the plugin owns: netipc_server_run() on a
 * pthread of this program, a consumer calling it, netipc_server_stop() from
 * the main thread making run return NETIPC_OK, then join and free. Plus the
 * misuse cases: run on a provider the library runs, run twice, run after
 * stop, NULL.
 *
 *   own_thread RUN_DIR
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "common.h"

static const char *run_dir;
#define DIR S(run_dir)
#define TOKEN 0x0b0e5eedULL

static atomic_ulong calls;

static netipc_result on_increment(void *ctx, uint64_t value, uint64_t *answer) {
    CHECK(ctx == &calls);
    atomic_fetch_add(&calls, 1);
    *answer = value + 1;
    return NETIPC_OK;
}

static netipc_server *start(const char *service, bool caller_thread) {
    netipc_server_config *cfg = NULL;
    OK(netipc_server_config_new(TOKEN, &cfg));
    OK(netipc_server_config_set_caller_thread(cfg, caller_thread));
    netipc_server *s = NULL;
    OK(netipc_server_start_increment(DIR, S(service), cfg, on_increment, &calls, &s));
    netipc_server_config_free(cfg);
    return s;
}

static int socket_exists(const char *service) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.sock", run_dir, service);
    struct stat st;
    return stat(path, &st) == 0;
}

/* The plugin's serving thread. */
struct runner {
    netipc_server *server;
    atomic_int entered;
    atomic_int returned;
    netipc_result rc;
};

static void *serve(void *arg) {
    struct runner *r = arg;
    atomic_store(&r->entered, 1);
    r->rc = netipc_server_run(r->server);
    atomic_store(&r->returned, 1);
    return NULL;
}

static netipc_client *client(const char *service) {
    netipc_client_config *cfg = NULL;
    OK(netipc_client_config_new(TOKEN, &cfg));
    netipc_client *c = NULL;
    OK(netipc_client_new(NETIPC_SERVICE_INCREMENT, DIR, S(service), cfg, &c));
    netipc_client_config_free(cfg);
    return c;
}

static void test_served_on_own_thread(void) {
    netipc_server *s = start("own", true);
    CHECK(socket_exists("own")); /* bound by start */

    struct runner r = {.server = s, .rc = -1};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, serve, &r) == 0);

    netipc_client *c = client("own");
    OK(refresh_until_ready(c, 60));
    for (uint64_t v = 0; v < 20; v++) {
        uint64_t answer = 0;
        OK(netipc_client_call_increment(c, v, 5000, &answer));
        CHECK(answer == v + 1);
    }
    uint64_t values[3] = {1, 2, 3}, answers[3] = {0};
    OK(netipc_client_call_increment_batch(c, values, 3, 5000, answers));
    CHECK(answers[0] == 2 && answers[1] == 3 && answers[2] == 4);
    CHECK(atomic_load(&calls) >= 23);
    /* run serves: it has not returned while the client was answered. */
    CHECK(atomic_load(&r.entered) && !atomic_load(&r.returned));
    uint64_t served = 0;
    OK(netipc_server_stat(s, NETIPC_SERVER_STAT_SESSIONS_SERVED, &served));
    CHECK(served >= 1);

    /* A second run while the first serves is refused. */
    EXPECT_RC(netipc_server_run(s), NETIPC_ERR_INVALID_ARGUMENT);
    size_t len = 0;
    const uint8_t *msg = netipc_last_error(&len);
    CHECK(len > 0 && strstr((const char *)msg, "already") != NULL);

    /* Stop from this thread: it waits until run has cleaned up, and run
       returns NETIPC_OK. */
    OK(netipc_server_stop(s, 20000));
    CHECK(!socket_exists("own"));
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(r.rc == NETIPC_OK);
    /* Still refused after it returned. */
    EXPECT_RC(netipc_server_run(s), NETIPC_ERR_INVALID_ARGUMENT);

    uint64_t answer = 0;
    CHECK(netipc_client_call_increment(c, 1, 5000, &answer) != NETIPC_OK);
    EXPECT_RC(netipc_client_refresh(c, NULL), NETIPC_ERR_NO_PROVIDER);
    netipc_client_free(c);
    netipc_server_free(s);
}

static void test_misuse(void) {
    /* NULL. */
    EXPECT_RC(netipc_server_run(NULL), NETIPC_ERR_INVALID_ARGUMENT);
    EXPECT_RC(netipc_server_config_set_caller_thread(NULL, true), NETIPC_ERR_INVALID_ARGUMENT);

    /* A provider the library runs cannot be run by the plugin. */
    netipc_server *lib = start("library", false);
    EXPECT_RC(netipc_server_run(lib), NETIPC_ERR_INVALID_ARGUMENT);
    size_t len = 0;
    const uint8_t *msg = netipc_last_error(&len);
    CHECK(len > 0 && strstr((const char *)msg, "library thread") != NULL);
    netipc_client *c = client("library");
    OK(refresh_until_ready(c, 60));
    uint64_t answer = 0;
    OK(netipc_client_call_increment(c, 41, 5000, &answer));
    CHECK(answer == 42);
    netipc_client_free(c);
    EXPECT_RC(netipc_server_run(lib), NETIPC_ERR_INVALID_ARGUMENT); /* still */
    OK(netipc_server_stop(lib, 20000));
    netipc_server_free(lib);

    /* Stopped before it ran: the socket goes at once, run returns at once
       (on this thread: it would block forever otherwise), then refuses. */
    netipc_server *late = start("late", true);
    CHECK(socket_exists("late"));
    OK(netipc_server_stop(late, 20000));
    CHECK(!socket_exists("late"));
    OK(netipc_server_run(late));
    EXPECT_RC(netipc_server_run(late), NETIPC_ERR_INVALID_ARGUMENT);
    netipc_server_free(late);

    /* Never run, freed: the socket goes with it. */
    netipc_server *unrun = start("unrun", true);
    netipc_server_free(unrun);
    CHECK(!socket_exists("unrun"));

    /* Caller thread can be switched back off. */
    netipc_server *back = NULL;
    netipc_server_config *cfg = NULL;
    OK(netipc_server_config_new(TOKEN, &cfg));
    OK(netipc_server_config_set_caller_thread(cfg, true));
    OK(netipc_server_config_set_caller_thread(cfg, false));
    OK(netipc_server_start_increment(DIR, S("back"), cfg, on_increment, &calls, &back));
    netipc_server_config_free(cfg);
    EXPECT_RC(netipc_server_run(back), NETIPC_ERR_INVALID_ARGUMENT);
    netipc_server_free(back);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: own_thread RUN_DIR\n");
        return 2;
    }
    run_dir = argv[1];
    test_served_on_own_thread();
    test_misuse();
    printf("own_thread ok\n");
    return 0;
}
