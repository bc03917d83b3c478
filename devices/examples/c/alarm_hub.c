/*
 * alarm_hub.c - a Linux home hub (Raspberry Pi class) talking the alert-gateway device contract
 * over MQTT with Eclipse Paho C (Debian: apt-get install libpaho-mqtt-dev).
 *
 * What it shows, in the order a real hub needs it (devices/README.md is the contract):
 *   1. log in with the device's own account (`alert-gateway device provision ID` prints it),
 *      over TLS when the URL is mqtts:// or ssl://;
 *   2. set a retained QoS 1 last will `offline` on its status topic, then publish `online`;
 *   3. send a heartbeat every --heartbeat seconds;
 *   4. publish one alarm at QoS 1 and RE-PUBLISH IT WITH THE SAME ID until the gateway says
 *      `received` for that id on the feedback topic (5 s, 10 s, 20 s, 40 s, then every 60 s;
 *      never give up), then exit 0, or keep running with --keep-running.
 *
 * Build: make   (or: cc -Wall -Wextra -Werror -O2 -o alarm_hub alarm_hub.c -lpaho-mqtt3cs)
 * Run:   DEVICE_PASSWORD='...' ./alarm_hub --url mqtts://broker.example.jp:8883 \
 *            --cafile /etc/ssl/certs/ca-certificates.crt --device-id hub-0042 --type sos
 *
 * It is single-threaded on purpose: no callbacks are set, so Paho runs no thread of its own and
 * MQTTClient_receive() both delivers the feedback and sends the keepalive pings.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <MQTTClient.h>

#define DEFAULT_ROOT "eldercare/v1/devices"
#define PUBACK_WAIT_MS 10000L /* bound on waiting for the broker's PUBACK */
#define MAX_RECONNECT_S 30    /* reconnect back-off: 1 s, 2 s, 4 s ... up to this */

/* The contract's re-publish schedule; after the last entry, repeat it for ever. */
static const int RETRY_S[] = {5, 10, 20, 40, 60};
#define N_RETRY ((int)(sizeof RETRY_S / sizeof RETRY_S[0]))

struct options {
    const char *url, *device_id, *username, *password, *root, *cafile, *type, *alarm_id;
    int heartbeat_s, keep_running;
};

struct alarm {
    char id[64];
    char payload[256];
    int pending;     /* 1 until `received` for this id arrives */
    int attempts;    /* publishes so far (the first one included) */
    double next_at;  /* monotonic time of the next re-publish */
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) { (void)sig; stop_requested = 1; }

/* OpenSSL's reason for a failed TLS connect ("certificate verify failed" ...); without it a bad
 * CA file or host name shows only as "Failure". */
static int on_tls_error(const char *str, size_t len, void *context)
{
    (void)context;
    while (len > 0 && (str[len - 1] == '\n' || str[len - 1] == '\r'))
        len--;
    fprintf(stderr, "TLS: %.*s\n", (int)len, str);
    return 0;
}

static double now_s(void)
{
    /* Monotonic: a clock set by NTP after boot must not delay or rush a re-publish. */
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void iso_utc(char *out, size_t len)
{
    /* The contract wants ISO 8601 with an offset; UTC with `Z` needs no time-zone data. */
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void new_alarm_id(char *out, size_t len)
{
    /* Unique per device across reboots: the wall clock alone repeats after a reset to 1970 and
     * a counter alone restarts at boot, so add 32 random bits from the kernel. */
    unsigned int rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        rnd = (unsigned int)rand();
    snprintf(out, len, "c-%lx-%08x", (unsigned long)time(NULL), rnd);
}

static void topic(char *out, size_t len, const struct options *o, const char *channel)
{
    snprintf(out, len, "%s/%s/%s", o->root, o->device_id, channel);
}

/* The string value of "key" in a flat JSON object, or 0 if absent. A tiny scanner keeps the
 * example free of dependencies; a product should use a real parser (cJSON, jansson). The
 * gateway's feedback holds no escaped quotes in `ref` or `state`, since we choose the ids. */
static int json_string(const char *json, const char *key, char *out, size_t len)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    const char *p = strstr(json, quoted);
    if (p == NULL)
        return 0;
    p += strlen(quoted);
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ':')
        p++;
    if (*p++ != '"')
        return 0;
    size_t n = 0;
    while (*p && *p != '"' && n + 1 < len)
        out[n++] = *p++;
    out[n] = '\0';
    return *p == '"';
}

/* Publish and wait (bounded) for the broker's PUBACK. A PUBACK only means the broker has it;
 * for an alarm only `received` from the gateway counts (the caller keeps re-publishing). */
static int publish(MQTTClient c, const char *t, const char *payload, int qos, int retained)
{
    MQTTClient_message msg = MQTTClient_message_initializer;
    MQTTClient_deliveryToken token;
    msg.payload = (void *)payload;
    msg.payloadlen = (int)strlen(payload);
    msg.qos = qos;
    msg.retained = retained;
    int rc = MQTTClient_publishMessage(c, t, &msg, &token);
    if (rc == MQTTCLIENT_SUCCESS && qos > 0)
        rc = MQTTClient_waitForCompletion(c, token, PUBACK_WAIT_MS);
    if (rc != MQTTCLIENT_SUCCESS)
        fprintf(stderr, "publish to %s failed: %s\n", t, MQTTClient_strerror(rc));
    return rc;
}

static void send_heartbeat(MQTTClient c, const struct options *o)
{
    char t[256], ts[32], payload[128];
    topic(t, sizeof t, o, "heartbeat");
    iso_utc(ts, sizeof ts);
    snprintf(payload, sizeof payload, "{\"ts\":\"%s\",\"firmware\":\"c-example-1\"}", ts);
    /* QoS 0: the next heartbeat supersedes this one, and the gateway takes them at QoS 0. */
    if (publish(c, t, payload, 0, 0) == MQTTCLIENT_SUCCESS)
        printf("heartbeat sent\n");
}

static void send_alarm(MQTTClient c, const struct options *o, struct alarm *a)
{
    char t[256];
    topic(t, sizeof t, o, "alarm");
    a->attempts++;
    /* Same id and payload every time: the gateway de-duplicates on (device, id) and answers
     * `received` again, so repeats never raise a second alert. */
    if (publish(c, t, a->payload, 1, 0) == MQTTCLIENT_SUCCESS)
        printf("alarm %s published (attempt %d), broker has it; waiting for received\n",
               a->id, a->attempts);
    int step = a->attempts - 1 < N_RETRY ? a->attempts - 1 : N_RETRY - 1;
    a->next_at = now_s() + RETRY_S[step];
    fflush(stdout);
}

/* Connect (retrying with a bounded back-off until it works or we are told to stop), then
 * subscribe to our feedback and announce `online`. Returns 0 once connected. */
static int connect_hub(MQTTClient c, const struct options *o)
{
    char status[256], feedback[256];
    topic(status, sizeof status, o, "status");
    topic(feedback, sizeof feedback, o, "feedback");

    MQTTClient_connectOptions conn = MQTTClient_connectOptions_initializer;
    MQTTClient_willOptions will = MQTTClient_willOptions_initializer;
    MQTTClient_SSLOptions ssl = MQTTClient_SSLOptions_initializer;
    conn.keepAliveInterval = 30; /* the broker fires our will ~45 s after the link dies */
    /* Clean session: the broker keeps nothing for us while we are away. A `received` lost
     * then is not a problem: the re-publish after reconnecting gets a new one. */
    conn.cleansession = 1;
    conn.MQTTVersion = MQTTVERSION_3_1_1;
    conn.username = o->username;
    conn.password = o->password;
    /* The last will: if we vanish without a clean disconnect (power cut, crash, network), the
     * broker publishes `offline`, retained, so the gateway raises device_offline at once. */
    will.topicName = status;
    will.message = "offline";
    will.qos = 1;
    will.retained = 1;
    conn.will = &will;
    if (o->cafile != NULL) {
        ssl.trustStore = o->cafile;      /* the CA that signed the broker's certificate */
        ssl.enableServerCertAuth = 1;    /* refuse a broker we cannot verify */
        ssl.verify = 1;                  /* and check its host name, not only its chain */
        ssl.sslVersion = MQTT_SSL_VERSION_TLS_1_2;
        ssl.ssl_error_cb = on_tls_error;
        conn.ssl = &ssl;
    }

    int wait_s = 1;
    while (!stop_requested) {
        int rc = MQTTClient_connect(c, &conn);
        if (rc == MQTTCLIENT_SUCCESS) {
            /* Subscribe before publishing anything: a `received` must not arrive unheard. */
            rc = MQTTClient_subscribe(c, feedback, 1);
            if (rc == MQTTCLIENT_SUCCESS) {
                printf("connected to %s as %s\n", o->url, o->device_id);
                /* Retained, so whoever subscribes later (a restarted gateway) sees we are up. */
                publish(c, status, "online", 1, 1);
                return 0;
            }
            /* Without our feedback we could never stop repeating: try the whole thing again. */
            fprintf(stderr, "subscribe to %s failed: %s\n", feedback, MQTTClient_strerror(rc));
            MQTTClient_disconnect(c, 1000);
        } else {
            /* 4 and 5 are "bad user name or password" / "not authorised": check the provisioning. */
            fprintf(stderr, "connect to %s failed (%d: %s)\n", o->url, rc, MQTTClient_strerror(rc));
        }
        fprintf(stderr, "retrying in %d s\n", wait_s);
        struct timespec pause = {wait_s, 0};
        nanosleep(&pause, NULL);
        wait_s = wait_s * 2 > MAX_RECONNECT_S ? MAX_RECONNECT_S : wait_s * 2;
    }
    return -1; /* asked to stop */
}

/* True when this feedback message says the gateway has stored alarm `a`. */
static int is_received(const MQTTClient_message *m, const struct alarm *a)
{
    char body[4097], ref[64], state[32];
    size_t n = (size_t)m->payloadlen < sizeof body - 1 ? (size_t)m->payloadlen : sizeof body - 1;
    memcpy(body, m->payload, n);
    body[n] = '\0';
    printf("feedback: %s\n", body);
    return json_string(body, "ref", ref, sizeof ref) && strcmp(ref, a->id) == 0 &&
           json_string(body, "state", state, sizeof state) && strcmp(state, "received") == 0;
}

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s --device-id ID [--url URL] [--username NAME] [--root TOPIC_ROOT]\n"
            "          [--cafile CA.pem] [--type sos] [--alarm-id ID] [--heartbeat SECONDS]\n"
            "          [--keep-running]\n"
            "The password comes from $DEVICE_PASSWORD (not an option: others could read it\n"
            "from the process list). URL: mqtt://host:1883 or mqtts://host:8883.\n",
            prog);
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longs[] = {
        {"url", required_argument, 0, 'u'},       {"device-id", required_argument, 0, 'd'},
        {"username", required_argument, 0, 'n'},  {"root", required_argument, 0, 'r'},
        {"cafile", required_argument, 0, 'c'},    {"type", required_argument, 0, 't'},
        {"alarm-id", required_argument, 0, 'a'},  {"heartbeat", required_argument, 0, 'b'},
        {"keep-running", no_argument, 0, 'k'},    {0, 0, 0, 0}};
    *o = (struct options){.url = "mqtt://127.0.0.1:1883", .root = DEFAULT_ROOT, .type = "sos",
                          .heartbeat_s = 300, .password = getenv("DEVICE_PASSWORD")};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 'u': o->url = optarg; break;
        case 'd': o->device_id = optarg; break;
        case 'n': o->username = optarg; break;
        case 'r': o->root = optarg; break;
        case 'c': o->cafile = optarg; break;
        case 't': o->type = optarg; break;
        case 'a': o->alarm_id = optarg; break;
        case 'b': o->heartbeat_s = atoi(optarg); break;
        case 'k': o->keep_running = 1; break;
        default: return -1;
        }
    }
    if (o->device_id == NULL || o->heartbeat_s < 1)
        return -1;
    if (o->username == NULL)
        o->username = o->device_id; /* the provisioned username is the device id */
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_options(argc, argv, &o) != 0) {
        usage(argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* one line at a time, also into a pipe or a log */
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    struct alarm a = {.pending = 1};
    char ts[32];
    if (o.alarm_id != NULL)
        snprintf(a.id, sizeof a.id, "%s", o.alarm_id);
    else
        new_alarm_id(a.id, sizeof a.id);
    iso_utc(ts, sizeof ts); /* the time of the button press, kept in every repeat */
    snprintf(a.payload, sizeof a.payload, "{\"id\":\"%s\",\"type\":\"%s\",\"ts\":\"%s\"}", a.id,
             o.type, ts);
    /* A real hub writes the pending alarm to storage here, before the first publish, so that a
     * reboot in the middle still repeats it (with the same id) until it is received. */

    MQTTClient c;
    /* The client id is the device id: the broker then drops an older connection of ours, and
     * the ACL (config/mosquitto/acl) keys our topics on the username, which is the same id. */
    int rc = MQTTClient_create(&c, o.url, o.device_id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
    if (rc != MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "bad broker URL %s: %s\n", o.url, MQTTClient_strerror(rc));
        return 2;
    }

    int connected = 0, status = 0;
    double next_heartbeat = 0;
    while (!stop_requested) {
        if (!connected) {
            if (connect_hub(c, &o) != 0)
                break;
            connected = 1;
            next_heartbeat = 0; /* a heartbeat right after (re)connecting */
            if (a.pending)
                a.next_at = 0; /* and the alarm at once: a fresh link is the best chance */
        }
        double now = now_s();
        if (now >= next_heartbeat) {
            send_heartbeat(c, &o);
            next_heartbeat = now + o.heartbeat_s;
        }
        if (a.pending && now >= a.next_at)
            send_alarm(c, &o, &a);

        /* Sleep in MQTTClient_receive until a message arrives or the next thing is due. */
        double due = a.pending && a.next_at < next_heartbeat ? a.next_at : next_heartbeat;
        long wait_ms = (long)((due - now_s()) * 1000);
        wait_ms = wait_ms < 10 ? 10 : wait_ms > 1000 ? 1000 : wait_ms; /* notice signals too */
        char *t = NULL;
        int tlen = 0;
        MQTTClient_message *m = NULL;
        rc = MQTTClient_receive(c, &t, &tlen, &m, (unsigned long)wait_ms);
        if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED) {
            fprintf(stderr, "connection lost (%s); reconnecting\n", MQTTClient_strerror(rc));
            connected = 0;
            continue;
        }
        if (m == NULL)
            continue; /* timeout: nothing arrived */
        if (a.pending && is_received(m, &a)) {
            a.pending = 0;
            printf("alarm %s received by the gateway after %d publish(es)\n", a.id, a.attempts);
            if (!o.keep_running)
                stop_requested = 1;
        }
        MQTTClient_freeMessage(&m);
        MQTTClient_free(t);
    }

    if (a.pending) {
        fprintf(stderr, "stopped before alarm %s was received\n", a.id);
        status = 1;
    }
    /* A clean disconnect: the broker discards our will, so no `offline` is announced. The
     * gateway notices a hub that stays away by its missing heartbeats. */
    if (connected)
        MQTTClient_disconnect(c, 1000);
    MQTTClient_destroy(&c);
    return status;
}
