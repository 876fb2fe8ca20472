/*
 * docker: a Docker Engine API client over evcurl (Unix socket or tcp://),
 * and the pure parsers for what it returns.
 *
 * Version: docker_ping() reads Api-Version from /_ping and speaks
 * min(that, DOCKER_API_MAX). Docker 29.0-29.2 refuse anything below 1.44, so
 * 1.44 is also what is spoken before the ping answers. Bump DOCKER_API_MAX
 * only after checking the parsers below against the newer API's changelog
 * (1.52 already dropped the legacy status/id/from keys from events, and the
 * event parser reads Action and Actor.ID only).
 *
 * Every call is asynchronous and runs its callback exactly once from the
 * loop. Calls that start a request return the transfer (for evcurl_cancel,
 * which runs the callback with error -ECANCELED) or NULL when it could not
 * start (then the callback is not run).
 */
#ifndef BERTH_DOCKER_H
#define BERTH_DOCKER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct evcurl;
struct evcurl_xfer;
struct docker;
struct docker_events;

#define DOCKER_API_MAX        "1.44"
#define DOCKER_ID_MAX         72  /* 64 hex + NUL, with room */
#define DOCKER_NAME_MAX       256 /* container name without the leading '/' */
#define DOCKER_LABEL_MAX      320 /* one label value kept (an ARN fits) */
#define DOCKER_IP_MAX         64
#define DOCKER_PORTS_MAX      64          /* published (port, proto) pairs kept per container */
#define DOCKER_EVENT_LINE_MAX (64 * 1024) /* longer event lines are dropped whole */
#define DOCKER_BODY_MAX       (4 * 1024 * 1024) /* inspect and list bodies */
#define DOCKER_JSON_DEPTH     64

/* A published port, after the IPv4/IPv6 duplicates are folded into one. */
struct docker_port {
	int container_port;
	char proto[8];               /* "tcp", "udp", "sctp" */
	char host_ip[DOCKER_IP_MAX]; /* as Docker gave it: "0.0.0.0", "::", "127.0.0.1" */
	int host_port;               /* the IPv4 (else only) host port */
	int host_port_v6;            /* a different IPv6 host port (Docker 20.10.6); else 0 */
};

/* The ECS labels the agent puts on task containers (empty when absent). */
struct docker_ecs {
	char task_arn[DOCKER_LABEL_MAX];
	char container_name[DOCKER_NAME_MAX];
	char family[DOCKER_NAME_MAX];
	char revision[16];
	char cluster[DOCKER_LABEL_MAX]; /* as labelled: a name or an ARN */
};

/* One container, from inspect or from a list item. */
struct docker_container {
	char id[DOCKER_ID_MAX];
	char name[DOCKER_NAME_MAX];
	char state[16]; /* created|running|paused|restarting|removing|exited|dead */
	int exit_code;
	int64_t started_at_ms, finished_at_ms; /* 0 when never */
	struct docker_ecs ecs;
	json_t *labels; /* object of every label; owned, freed by docker_container_clear */
	char env_value[256];
	int has_env; /* the one variable asked for was set (inspect only) */
	struct docker_port ports[DOCKER_PORTS_MAX]; /* published now (NetworkSettings.Ports) */
	int nports;
	struct docker_port requested[DOCKER_PORTS_MAX]; /* HostConfig.PortBindings with a port */
	int nrequested;
};

/* One /events message. */
struct docker_event {
	char type[16];          /* "container", "network", ... */
	char action[64];        /* "start", "die", "health_status: healthy", ... */
	char id[DOCKER_ID_MAX]; /* Actor.ID */
	char name[DOCKER_NAME_MAX];
	int64_t time_nano;
	int has_exit_code;
	int exit_code; /* die: Attributes.exitCode */
};

struct docker_resp {
	long status;         /* HTTP status; 0 when no answer */
	int error;           /* 0 or a negative code (see evcurl.h) */
	const char *message; /* Docker's {"message"} on errors, or curl's text; "" when none */
	const char *body;    /* borrowed for the callback */
	size_t body_len;
};

typedef void (*docker_done_cb)(const struct docker_resp *, void *arg);
/* Inspect: c is NULL unless status is 200 and the body parsed. c is borrowed. */
typedef void (*docker_inspect_cb)(const struct docker_resp *, const struct docker_container *c,
                                  void *arg);
/* List: v holds n containers (borrowed) when status is 200 and the body parsed. */
typedef void (*docker_list_cb)(const struct docker_resp *, const struct docker_container *v,
                               size_t n, void *arg);
/* Create: id is the new container's ID ("" on failure). */
typedef void (*docker_create_cb)(const struct docker_resp *, const char *id, void *arg);
typedef void (*docker_event_cb)(const struct docker_event *, void *arg);
/* The event stream ended: error 0 when the daemon closed it, else why. */
typedef void (*docker_end_cb)(int error, const char *message, void *arg);

/*
 * host: "unix:///path/docker.sock", "/path/docker.sock" or "tcp://host:port".
 * env_name: the environment variable inspect extracts (docker_container.env_value),
 * or NULL. No other variable of a container is ever read or kept.
 */
struct docker *docker_new(struct evcurl *, const char *host, const char *env_name, char *err,
                          size_t errlen);
void docker_free(struct docker *);
const char *docker_api_version(const struct docker *);
/* Number of event lines dropped for being over DOCKER_EVENT_LINE_MAX or unparsable. */
unsigned long docker_dropped_lines(const struct docker *);

/* GET /_ping; negotiates the version. cb gets status 200 on success. */
struct evcurl_xfer *docker_ping(struct docker *, docker_done_cb, void *arg);
/*
 * A request to /v<version><path> (path starts with '/'), with an optional JSON
 * body (borrowed). timeout_ms 0 means 30 s.
 */
struct evcurl_xfer *docker_request(struct docker *, const char *method, const char *path,
                                   const char *body, long timeout_ms, docker_done_cb, void *arg);
struct evcurl_xfer *docker_inspect(struct docker *, const char *id, docker_inspect_cb, void *arg);
/* GET /containers/json; all adds stopped ones; filters is a JSON object text or NULL. */
struct evcurl_xfer *docker_list(struct docker *, int all, const char *filters, docker_list_cb,
                                void *arg);
/*
 * POST /containers/create?name=; config is the create body (borrowed). name may be NULL.
 * timeout_ms bounds the call (0: 30 s).
 */
struct evcurl_xfer *docker_create(struct docker *, const char *name, json_t *config,
                                  long timeout_ms, docker_create_cb, void *arg);
/* POST /containers/{id}/start; 204 started, 304 already running. timeout_ms as create. */
struct evcurl_xfer *docker_start(struct docker *, const char *id, long timeout_ms, docker_done_cb,
                                 void *arg);
/* POST /containers/{id}/stop?t=; 204 stopped, 304 already stopped. */
struct evcurl_xfer *docker_stop(struct docker *, const char *id, int timeout_s, docker_done_cb,
                                void *arg);
/* DELETE /containers/{id}?force=; 204 removed. */
struct evcurl_xfer *docker_remove(struct docker *, const char *id, int force, docker_done_cb,
                                  void *arg);

/*
 * Follows GET /events with filters (JSON object text, or NULL) from since
 * ("<sec>.<nanos>", or NULL for now). Each complete line is parsed and handed
 * to on_event; bad or over-long lines are dropped and counted. on_end runs
 * once when the stream stops for any reason but docker_events_stop.
 */
struct docker_events *docker_events_start(struct docker *, const char *since, const char *filters,
                                          docker_event_cb on_event, docker_end_cb on_end,
                                          void *arg);
/* Stops the stream; on_end is not called. */
void docker_events_stop(struct docker_events *);

/* Pure parsers (no I/O), fuzzed. 0 or a negative code with err filled. */

/* One event line (no trailing newline needed). */
int docker_event_parse(const char *line, size_t len, struct docker_event *out, char *err,
                       size_t errlen);
/*
 * GET /containers/{id}/json. env_name as for docker_new (may be NULL).
 * out must be docker_container_clear()ed after a successful parse.
 */
int docker_inspect_parse(const char *body, size_t len, const char *env_name,
                         struct docker_container *out, char *err, size_t errlen);
/* GET /containers/json: *out is a malloc'd array of *n; free with docker_list_free. */
int docker_list_parse(const char *body, size_t len, struct docker_container **out, size_t *n,
                      char *err, size_t errlen);
void docker_list_free(struct docker_container *, size_t n);
void docker_container_clear(struct docker_container *);
/* {"message": ...} of an error body into out ("" when none). */
void docker_error_message(const char *body, size_t len, char *out, size_t outlen);

/*
 * Splits a byte stream into lines under a cap. Lines longer than max are
 * dropped whole (counted in dropped). Feed returns the number of lines
 * handed to cb, or a negative code when memory ran out.
 */
struct docker_lines {
	char *buf;
	size_t len, cap, max;
	int skipping;          /* inside an over-long line: drop up to its newline */
	unsigned long dropped; /* over-long lines dropped */
};
typedef void (*docker_line_cb)(const char *line, size_t len, void *arg);
void docker_lines_init(struct docker_lines *, size_t max);
int docker_lines_feed(struct docker_lines *, const char *buf, size_t len, docker_line_cb,
                      void *arg);
void docker_lines_free(struct docker_lines *);

#endif
