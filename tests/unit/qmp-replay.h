/* Replay harness for QMP tests: a thread on one end of a socketpair plays
 * QEMU from a script built of recorded conversations (the qemu-X.Y.txt files
 * of tests/data/qmp/, see the README there) and injected faults, while the
 * test drives the client on the other end.
 *
 * Fixture format: '#' comments, '## NAME' starts a section, '> JSON' a line
 * the client must send, '< JSON' a line the server sends. A client line
 * matches when it is the same JSON value once "id" is removed from both (and
 * both have an id or neither). A server line with an "id" gets the id of the
 * client's last command instead of the recorded one.
 *
 * The peer never calls cmocka (it runs in another thread): it stops at the
 * first mismatch, closes the connection, and qr_finish() reports it. */
#ifndef QMP_REPLAY_H
#define QMP_REPLAY_H

#include <stddef.h>

struct qr_script;
struct qr_peer;

/* Which lines of a fixture section qr_load() takes. */
enum { QR_CLIENT = 1, QR_SERVER = 2, QR_BOTH = 3 };

struct qr_script *qr_script_new(void);
void qr_script_free(struct qr_script *s);

/* Append the lines of section (NULL: the whole file) of a fixture under
 * tests/data/qmp/. Returns the index of the first step added; aborts the
 * test (cmocka fail) when the file or section does not exist or is empty. */
size_t qr_load(struct qr_script *s, const char *fixture, const char *section, unsigned which);
/* The section's one command and its one reply, answered as often as the
 * client sends that command (qr_answer_while): a recorded poll. */
void qr_load_repeated(struct qr_script *s, const char *fixture, const char *section);
/* Number of steps so far (the index the next step gets). */
size_t qr_steps(const struct qr_script *s);

/* Expect one client line (JSON, compared as above). */
void qr_expect(struct qr_script *s, const char *json);
/* Send one JSON line (id substituted as above). */
void qr_send(struct qr_script *s, const char *json);
/* Send bytes exactly as given (no newline added, no id substitution). */
void qr_send_raw(struct qr_script *s, const char *data, size_t len);
void qr_sleep(struct qr_script *s, int ms);
/* Close the connection now; the script ends here. */
void qr_close(struct qr_script *s);
/* From here on the client may hang up (it refused what it got): a failed
 * write ends the script quietly instead of failing it. */
void qr_client_may_close(struct qr_script *s);
/* Until the client closes: answer every line matching expect with reply. */
void qr_answer_forever(struct qr_script *s, const char *expect, const char *reply);
/* Answer every line matching expect with reply, as many times as the client
 * sends one (a poll whose count depends on timing); the first other line is
 * matched against the next step. */
void qr_answer_while(struct qr_script *s, const char *expect, const char *reply);
/* Send the server lines among steps [from, to) in pieces writes, delay_ms
 * apart, each line cut at arbitrary byte offsets (inside strings, numbers). */
void qr_split(struct qr_script *s, size_t from, size_t to, int pieces, int delay_ms);

/* Start the peer on a socketpair; the script is now the peer's. *client_fd
 * gets the test's end. */
struct qr_peer *qr_start(struct qr_script *s, int *client_fd);
/* Wait for the peer to finish: after its script it waits (at most 10 s) for
 * the client to close, and any client line then is a mismatch. Returns 0 if
 * every step matched, else -1 with *err describing the first mismatch
 * (caller frees). Frees the peer. */
int qr_finish(struct qr_peer *p, char **err);

#endif
