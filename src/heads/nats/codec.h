/* SPDX-License-Identifier: Apache-2.0
 *
 * The NATS client protocol codec: a pure, incremental, zero-copy parser and the
 * encoders for what the server sends. No allocation, no I/O, no globals: fuzzable alone.
 *
 * Wire (one op per control line, CRLF-terminated; a bare LF is accepted as nats-server does):
 *
 *   CONNECT <json>            PUB <subject> [reply] <#bytes>\r\n<payload>\r\n
 *   PING | PONG               HPUB <subject> [reply] <#hdr> <#total>\r\n<hdr><payload>\r\n
 *   SUB <subject> [queue] <sid>          UNSUB <sid> [max]
 *   INFO <json>   MSG <subject> <sid> [reply] <#bytes>   HMSG … <#hdr> <#total>
 *   +OK   -ERR <text>
 *
 * Op names are case-insensitive; fields are separated by one or more spaces or tabs.
 *
 * Parse contract:
 *   P1. hr_nats_parse() looks at buf[0..len) and returns one of
 *         HR_NATS_OK    — one complete op in `op`, `consumed` bytes used;
 *         HR_NATS_MORE  — incomplete; `need` is the total size the op needs when known
 *                         (so the caller can size its buffer), else 0;
 *         HR_NATS_ERROR — `error` says which protocol error; the caller closes.
 *   P2. Slices in `op` point into `buf`; they are valid while buf is.
 *   P3. No size from the peer is trusted: a payload larger than max_payload is an error
 *       before any byte of it is awaited; a control line longer than max_control_line is
 *       an error as soon as that many bytes arrive without a line end.
 *   P4. Parsing the same bytes split at any boundary gives the same ops.
 */
#ifndef HR_HEADS_NATS_CODEC_H
#define HR_HEADS_NATS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/slice.h"

enum hr_nats_op_kind {
    HR_NATS_OP_CONNECT,
    HR_NATS_OP_PUB,
    HR_NATS_OP_HPUB,
    HR_NATS_OP_SUB,
    HR_NATS_OP_UNSUB,
    HR_NATS_OP_PING,
    HR_NATS_OP_PONG,
    HR_NATS_OP_INFO,
    HR_NATS_OP_MSG,
    HR_NATS_OP_HMSG,
    HR_NATS_OP_OK,
    HR_NATS_OP_ERR,
};

/* Protocol errors, each with the exact text nats-server sends (NULL: it closes silently;
 * Herald then sends 'Parser Error' so the peer learns why). */
#define HR_NATS_ERROR_MAP(X)                                                  \
    X(UNKNOWN_OP, "Unknown Protocol Operation")                               \
    X(BAD_ARGS, "Parser Error")                                               \
    X(MAX_PAYLOAD, "Maximum Payload Violation")                               \
    X(MAX_CONTROL_LINE, "maximum control line exceeded")

enum hr_nats_error {
    HR_NATS_ENONE = 0,
#define HR_NATS_ERR_ENUM(name, text) HR_NATS_E##name,
    HR_NATS_ERROR_MAP(HR_NATS_ERR_ENUM)
#undef HR_NATS_ERR_ENUM
};

/* The -ERR text for a parse error (without quotes). */
const char *hr_nats_error_text(enum hr_nats_error err);

struct hr_nats_op {
    enum hr_nats_op_kind kind;
    struct hr_slice subject;
    struct hr_slice reply;   /* len 0 when absent */
    struct hr_slice queue;   /* SUB only; len 0 when absent */
    struct hr_slice sid;     /* SUB, UNSUB, MSG, HMSG */
    struct hr_slice arg;     /* CONNECT/INFO json, -ERR text */
    struct hr_slice hdr;     /* HPUB/HMSG header block */
    struct hr_slice payload; /* PUB/HPUB/MSG/HMSG body (after the header block) */
    uint64_t max_msgs;       /* UNSUB: 0 = none */
};

enum hr_nats_status { HR_NATS_OK, HR_NATS_MORE, HR_NATS_ERROR };

struct hr_nats_limits {
    size_t max_control_line; /* bytes before the line end; 0 = 4096 */
    size_t max_payload;      /* bytes of header + payload; 0 = 1 MiB */
};

struct hr_nats_parse_result {
    enum hr_nats_status status;
    enum hr_nats_error error;
    size_t consumed;
    size_t need;
};

struct hr_nats_parse_result hr_nats_parse(const char *buf, size_t len,
                                          const struct hr_nats_limits *limits,
                                          struct hr_nats_op *op);

/* Encoders. Each writes at most the returned number of bytes; *_size() gives the exact
 * size first so callers reserve once. */

/* "MSG <subject> <sid> [reply] <n>\r\n" or "HMSG <subject> <sid> [reply] <h> <t>\r\n".
 * Returns bytes written to dst, which must have hr_nats_msg_head_max() bytes. */
size_t hr_nats_msg_head_max(size_t subject_len, size_t sid_len, size_t reply_len);
size_t hr_nats_encode_msg_head(char *dst, struct hr_slice subject, struct hr_slice sid,
                               struct hr_slice reply, size_t hdr_len, size_t data_len);

#endif
