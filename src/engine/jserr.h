/* SPDX-License-Identifier: Apache-2.0
 *
 * The JetStream errors Herald reports, with nats-server's HTTP-style code, err_code and
 * description (server/errors.json), from one X-macro. Descriptions with a %s/%llu take
 * their arguments, as nats-server's "{err}"/"{seq}" templates do (at most two). Rows are
 * only ever appended.
 */
#ifndef HR_ENGINE_JSERR_H
#define HR_ENGINE_JSERR_H

#include "herald/stream.h"

/* X(name, herald code, status, err_code, description format) */
#define HR_JS_ERROR_MAP(X)                                                                       \
    X(BAD_REQUEST, HERALD_EINVAL, 400, 10003, "bad request")                                    \
    X(INVALID_JSON, HERALD_EINVAL, 400, 10025, "invalid JSON")                                  \
    X(NOT_EMPTY_REQUEST, HERALD_EINVAL, 400, 10038, "expected an empty request payload")        \
    X(STREAM_NOT_FOUND, HERALD_ENOTFOUND, 404, 10059, "stream not found")                       \
    X(STREAM_NAME_EXIST, HERALD_EEXIST, 400, 10058, "stream name already in use with a different configuration") \
    X(STREAM_MISMATCH, HERALD_EINVAL, 400, 10056, "stream name in subject does not match request") \
    X(STREAM_INVALID_CONFIG, HERALD_ECONFIG, 500, 10052, "%s")                                  \
    X(STREAM_SUBJECT_OVERLAP, HERALD_ECONFIG, 400, 10065, "subjects overlap with an existing stream") \
    X(STREAM_REPLICAS, HERALD_ECONFIG, 500, 10074, "replicas > 1 not supported in non-clustered mode") \
    X(STREAM_NAME_PATH, HERALD_ECONFIG, 400, 10128, "Stream name can not contain path separators") \
    X(STREAM_CREATE, HERALD_ESTORE, 500, 10049, "%s")                                           \
    X(STREAM_UPDATE, HERALD_ECONFIG, 500, 10069, "%s")                                          \
    X(STREAM_DELETE, HERALD_ESTORE, 500, 10050, "%s")                                           \
    X(STREAM_NOT_MATCH, HERALD_ECONFLICT, 400, 10060, "expected stream does not match")         \
    X(WRONG_LAST_SEQ, HERALD_ECONFLICT, 400, 10071, "wrong last sequence: %llu")                \
    X(WRONG_LAST_MSG_ID, HERALD_ECONFLICT, 400, 10070, "wrong last msg ID: %s")                 \
    X(MSG_TOO_BIG, HERALD_ETOOBIG, 400, 10054, "message size exceeds maximum allowed")          \
    X(STORE_FAILED, HERALD_ESTORE, 503, 10077, "%s")                                            \
    X(NO_MESSAGE, HERALD_ENOTFOUND, 404, 10037, "no message found")                             \
    X(SEQ_NOT_FOUND, HERALD_ENOTFOUND, 400, 10043, "sequence %llu not found")                   \
    X(MSG_DELETE_FAILED, HERALD_ECONFLICT, 500, 10057, "%s")                                    \
    X(SEALED, HERALD_ECONFLICT, 400, 10109, "invalid operation on sealed stream")               \
    X(PURGE_FAILED, HERALD_ECONFLICT, 500, 10110, "%s")                                         \
    X(ROLLUP_FAILED, HERALD_ECONFLICT, 500, 10111, "%s")                                        \
    X(NOT_ENABLED, HERALD_ENOTFOUND, 503, 10076, "JetStream not enabled")                       \
    X(MAX_STREAMS, HERALD_ELIMIT, 400, 10027, "maximum number of streams reached")              \
    X(HEADER_TOO_BIG, HERALD_ETOOBIG, 400, 10097, "header size exceeds maximum allowed of 64k") \
    X(CONSUMER_NOT_FOUND, HERALD_ENOTFOUND, 404, 10014, "consumer not found")                   \
    X(CONSUMER_BAD_NAME, HERALD_EINVAL, 400, 10103, "durable name can not contain '.', '*', '>'") \
    X(CONSUMER_FILTER_NOT_SUBSET, HERALD_EINVAL, 400, 10093, "consumer filter subject is not a valid subset of the interest subjects") \
    X(CONSUMER_INVALID_DELIVER_SUBJECT, HERALD_EINVAL, 400, 10112, "invalid push consumer deliver subject") \
    X(CONSUMER_DELIVER_WILDCARDS, HERALD_EINVAL, 400, 10079, "consumer deliver subject has wildcards") \
    X(CONSUMER_PUSH_MAX_WAITING, HERALD_EINVAL, 400, 10080, "consumer in push mode can not set max waiting") \
    X(CONSUMER_FC_REQUIRES_PUSH, HERALD_EINVAL, 400, 10089, "consumer flow control requires a push based consumer") \
    X(CONSUMER_HB_REQUIRES_PUSH, HERALD_EINVAL, 400, 10088, "consumer idle heartbeat requires a push based consumer") \
    X(CONSUMER_MAX_WAITING_NEGATIVE, HERALD_EINVAL, 400, 10087, "consumer max waiting needs to be positive") \
    X(CONSUMER_FC_NEEDS_HB, HERALD_EINVAL, 400, 10108, "consumer with flow control also needs heartbeats") \
    X(CONSUMER_SMALL_HB, HERALD_EINVAL, 400, 10083, "consumer idle heartbeat needs to be >= 100ms") \
    X(CONSUMER_ACK_WAIT_NEGATIVE, HERALD_EINVAL, 400, 10183, "consumer ack wait needs to be positive") \
    X(CONSUMER_BACKOFF_NEGATIVE, HERALD_EINVAL, 400, 10184, "consumer backoff needs to be positive") \
    X(CONSUMER_MAX_DELIVER_BACKOFF, HERALD_EINVAL, 400, 10116, "max deliver is required to be > length of backoff values") \
    X(CONSUMER_MAX_PENDING_ACK_POLICY, HERALD_EINVAL, 400, 10082, "consumer requires ack policy for max ack pending") \
    X(CONSUMER_INVALID_POLICY, HERALD_EINVAL, 400, 10094, "%s")                                 \
    X(CONSUMER_CREATE, HERALD_EINVAL, 500, 10012, "%s")                                         \
    X(CONSUMER_STORE_FAILED, HERALD_ESTORE, 500, 10104, "error creating store for consumer: %s") \
    X(CONSUMER_EXISTS, HERALD_EEXIST, 400, 10148, "consumer already exists")                     \
    X(CONSUMER_WQ_EXPLICIT_ACK, HERALD_EINVAL, 400, 10098, "workqueue stream requires explicit ack") \
    X(CONSUMER_WQ_MULTIPLE_UNFILTERED, HERALD_EINVAL, 400, 10099, "multiple non-filtered consumers not allowed on workqueue stream") \
    X(CONSUMER_WQ_NOT_UNIQUE, HERALD_EINVAL, 400, 10100, "filtered consumer not unique on workqueue stream") \
    X(CONSUMER_WQ_DELIVER_ALL, HERALD_EINVAL, 400, 10101, "consumer must be deliver all on workqueue stream") \
    X(CONSUMER_NAME_MISMATCH, HERALD_EINVAL, 400, 10017, "consumer name in subject does not match durable name in request") \
    X(CONSUMER_CONFIG_REQUIRED, HERALD_EINVAL, 400, 10078, "consumer config required")        \
    X(CONSUMER_FILTER_MISMATCH, HERALD_EINVAL, 400, 10131, "Consumer create request did not match filtered subject from create subject") \
    X(CONSUMER_DURABLE_NAME_MISMATCH, HERALD_EINVAL, 400, 10132, "Consumer Durable and Name have to be equal if both are provided") \
    X(MAX_CONSUMERS, HERALD_ELIMIT, 400, 10026, "maximum consumers limit reached")               \
    X(REPLICAS_NEGATIVE, HERALD_EINVAL, 400, 10133, "replicas count cannot be negative")         \
    X(ATOMIC_DISABLED, HERALD_EINVAL, 400, 10174, "atomic publish is disabled")                 \
    X(ATOMIC_MISSING_SEQ, HERALD_EINVAL, 400, 10175, "atomic publish sequence is missing")      \
    X(ATOMIC_INCOMPLETE, HERALD_ECONFLICT, 400, 10176, "atomic publish batch is incomplete")    \
    X(ATOMIC_UNSUPPORTED_HEADER, HERALD_EINVAL, 400, 10177, "atomic publish unsupported header used: %s") \
    X(ATOMIC_INVALID_ID, HERALD_EINVAL, 400, 10179, "atomic publish batch ID is invalid")       \
    X(ATOMIC_TOO_LARGE, HERALD_ELIMIT, 400, 10199, "atomic publish batch is too large: %s")     \
    X(ATOMIC_INVALID_COMMIT, HERALD_EINVAL, 400, 10200, "atomic publish batch commit is invalid") \
    X(ATOMIC_DUPLICATE_ID, HERALD_ECONFLICT, 400, 10201, "atomic publish batch contains duplicate message id") \
    X(ATOMIC_TOO_MANY, HERALD_ELIMIT, 429, 10210, "atomic publish too many inflight")           \
    X(CONSUMER_DELIVER_CYCLE, HERALD_EINVAL, 400, 10081, "consumer deliver subject forms a cycle") \
    X(CONSUMER_PULL_REQUIRES_ACK, HERALD_EINVAL, 400, 10084, "consumer in pull mode requires ack policy") \
    X(CONSUMER_PULL_RATE_LIMIT, HERALD_EINVAL, 400, 10086, "consumer in pull mode can not have rate limit set") \
    X(CONSUMER_MAX_BATCH_NEGATIVE, HERALD_EINVAL, 400, 10114, "consumer max request batch needs to be > 0") \
    X(CONSUMER_MAX_EXPIRES_TOO_SMALL, HERALD_EINVAL, 400, 10115, "consumer max request expires needs to be >= 1ms") \
    X(CONSUMER_INVALID_SAMPLING, HERALD_EINVAL, 400, 10095, "failed to parse consumer sampling configuration: %s") \
    X(CONSUMER_INVALID_POLICY_START, HERALD_EINVAL, 400, 10094, "consumer delivery policy is deliver %s, but optional start %s is also set") \
    X(CONSUMER_EPHEMERAL_WITH_DURABLE, HERALD_EINVAL, 400, 10020, "consumer expected to be ephemeral but a durable name was set in request") \
    X(CONSUMER_DURABLE_NOT_SET, HERALD_EINVAL, 400, 10018, "consumer expected to be durable but a durable name was not set") \
    X(CONSUMER_NAME_EXIST, HERALD_EEXIST, 400, 10013, "consumer name already in use")

enum hr_js_error {
#define HR_JS_ENUM(name, code, status, err_code, desc) HR_JS_##name,
    HR_JS_ERROR_MAP(HR_JS_ENUM)
#undef HR_JS_ENUM
};

/* Fills `err` (may be NULL) for JetStream error `which`; the format takes at most two
 * arguments. Returns the HERALD_E* code, so `return hr_js_error(err, …);` reads well. */
int hr_js_error(struct herald_error *err, enum hr_js_error which, ...);

#endif
