/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer harness for the JSON config parsers of the JetStream API: stream configs
 * (herald_stream_config_parse, src/engine/stream_json.c) and consumer configs
 * (hr_consumer_config_parse, src/engine/consumer_json.c), the code that reads every
 * STREAM.CREATE/UPDATE and CONSUMER.CREATE body and every meta.json at start-up. Built by
 * `make fuzz`; `make fuzz-smoke` runs it over tests/fuzz/corpus/js_config/ (stream and
 * consumer configs, CONSUMER.CREATE requests, a few invalid ones).
 *
 * Every parse runs on an exact-size heap copy, so ASan catches a read past the end. The
 * input is read as:
 *   J1. A stream config: herald_stream_config_parse either fails with HERALD_EINVAL and a
 *       JetStream error (status 400, err_code set, description NUL-terminated), or
 *       succeeds. On success with a name, hr_stream_config_json (the STREAM.INFO "config"
 *       object) gives a JSON text that parses again to a config whose serialization is the
 *       same text (round trip) and that hr_stream_config_equal calls equal.
 *   J2. A consumer config: the input as a JSON object, and its "config" member when it has
 *       one (the CONSUMER.CREATE request shape), through hr_consumer_config_parse. On
 *       success hr_consumer_config_json (the CONSUMER.INFO "config" object) serialized,
 *       parsed and serialized again gives the same text (after the one default the engine
 *       applies before encoding: max_deliver 0 -> -1); the parsed fields keep their
 *       bounds (policies in range, nbackoff <= HERALD_MAX_BACKOFF, a durable has a name).
 *   J3. Every config is freed with its cleanup function, also after a failed parse (ASan's
 *       leak check covers the partial ones).
 * Any violation aborts (__builtin_trap) so libFuzzer records the input; UBSan reports
 * abort too (halt_on_error below).
 */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/consumer_internal.h"
#include "engine/engine_internal.h"
#include "herald/consumer.h"
#include "herald/errors.h"
#include "herald/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__ubsan_default_options(void);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

const char *__ubsan_default_options(void)
{
    return "halt_on_error=1:print_stacktrace=1";
}

static char *copy(const void *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    CHECK(c != NULL);
    if (n)
        memcpy(c, p, n);
    return c;
}

static void check_error(const struct herald_error *err)
{
    CHECK(err->status >= 400 && err->status < 600);
    CHECK(err->err_code != 0);
    CHECK(memchr(err->description, '\0', sizeof err->description) != NULL);
}

/* J1 */
static void stream_config(const uint8_t *in, size_t len)
{
    char *buf = copy(in, len);
    struct herald_stream_config cfg;
    struct herald_error err;
    herald_stream_config_init(&cfg);
    int rc = herald_stream_config_parse(buf, len, &cfg, &err);
    free(buf);
    if (rc) {
        CHECK(rc == HERALD_EINVAL || rc == HERALD_ENOMEM);
        check_error(&err);
        herald_stream_config_cleanup(&cfg);
        return;
    }
    CHECK((unsigned)cfg.retention <= HERALD_RETENTION_WORKQUEUE);
    CHECK((unsigned)cfg.discard <= HERALD_DISCARD_NEW);
    CHECK((unsigned)cfg.storage <= HERALD_STORAGE_MEMORY);
    CHECK(cfg.replicas >= -1 && cfg.replicas <= 1000);
    CHECK(cfg.nsubjects == 0 || cfg.subjects != NULL);
    for (size_t i = 0; i < cfg.nsubjects; i++)
        CHECK(cfg.subjects[i] != NULL);
    char *text = hr_stream_config_json(&cfg);
    /* The engine always names a stream before it encodes one (the request subject's name). */
    CHECK((text != NULL) == (cfg.name != NULL));
    if (text) {
        size_t tlen = strlen(text);
        char *tbuf = copy(text, tlen);
        struct herald_stream_config again;
        herald_stream_config_init(&again);
        CHECK(herald_stream_config_parse(tbuf, tlen, &again, &err) == 0);
        free(tbuf);
        char *text2 = hr_stream_config_json(&again);
        CHECK(text2 != NULL && strcmp(text, text2) == 0);
        CHECK(hr_stream_config_equal(&cfg, &again));
        free(text2);
        herald_stream_config_cleanup(&again);
        free(text);
    }
    herald_stream_config_cleanup(&cfg);
}

static char *consumer_json_text(const struct herald_consumer_config *c)
{
    json_t *o = hr_consumer_config_json(c);
    CHECK(o != NULL);
    char *s = json_dumps(o, JSON_COMPACT);
    CHECK(s != NULL);
    json_decref(o);
    return s;
}

/* J2 on one JSON value. */
static void consumer_config(json_t *o)
{
    struct herald_consumer_config cfg;
    struct herald_error err;
    herald_consumer_config_init(&cfg);
    int rc = hr_consumer_config_parse(o, &cfg, &err);
    if (rc) {
        CHECK(rc < 0);
        check_error(&err);
        herald_consumer_config_cleanup(&cfg);
        return;
    }
    CHECK((unsigned)cfg.deliver_policy <= HERALD_DELIVER_LAST_PER_SUBJECT);
    CHECK((unsigned)cfg.ack_policy <= HERALD_ACK_EXPLICIT);
    CHECK((unsigned)cfg.replay_policy <= HERALD_REPLAY_ORIGINAL);
    CHECK(cfg.nbackoff <= HERALD_MAX_BACKOFF);
    CHECK(!cfg.durable || cfg.name != NULL);
    CHECK(cfg.hide_name || cfg.name != NULL);
    /* The encoder leaves out zero fields (Go's omitempty); max_deliver is the one whose
     * unset value is not 0, and the engine turns 0 into -1 (config_check, nats-server's
     * setConsumerConfigDefaults) before a config is ever encoded. */
    if (cfg.max_deliver == 0)
        cfg.max_deliver = -1;
    char *text = consumer_json_text(&cfg);
    size_t tlen = strlen(text);
    char *tbuf = copy(text, tlen);
    json_error_t jerr;
    json_t *o2 = json_loadb(tbuf, tlen, 0, &jerr);
    free(tbuf);
    CHECK(json_is_object(o2));
    struct herald_consumer_config again;
    herald_consumer_config_init(&again);
    CHECK(hr_consumer_config_parse(o2, &again, &err) == 0);
    json_decref(o2);
    char *text2 = consumer_json_text(&again);
    CHECK(strcmp(text, text2) == 0);
    CHECK(again.durable == cfg.durable && again.hide_name == cfg.hide_name &&
          again.opt_start_time_ns == cfg.opt_start_time_ns && again.nbackoff == cfg.nbackoff);
    free(text);
    free(text2);
    herald_consumer_config_cleanup(&again);
    herald_consumer_config_cleanup(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    stream_config(data, size);

    char *buf = copy(data, size);
    json_error_t jerr;
    json_t *o = json_loadb(buf, size, 0, &jerr);
    free(buf);
    if (o) {
        consumer_config(o);
        json_t *inner = json_object_get(o, "config");
        if (inner)
            consumer_config(inner);
        json_decref(o);
    }
    return 0;
}
