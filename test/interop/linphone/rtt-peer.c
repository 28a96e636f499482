/*
 * A liblinphone real-time-text peer for the interop tests (test/interop/linphone.test.ts).
 *
 *   rtt-peer <outbound-proxy> <identity> <target-uri> <subject> [publisher|subscriber|both]
 *
 * Registers nothing. Sends every out-of-dialog request to <outbound-proxy> (a proxy config with REGISTER
 * off), calls <target-uri> with Subject <subject> ("" for none), text only (RFC 4103 T.140 with RED, no
 * audio), and lets liblinphone do the rest (the factory's 302, the ACK and BYE along the route set).
 * The role (PROFILE "Roles from SDP") is a direction attribute on the m=text line: liblinphone 5.1 has no
 * text-direction setting, but writes none of its own there (sendrecv by default), so a custom SDP media
 * attribute a=sendonly (publisher) or a=recvonly (subscriber) gives the role; "both" (default) adds none.
 *
 * stdin, one command a line:  SEND <text>   puts <text> and U+2028 on the real-time-text stream
 *                             BYE           hangs up
 * stdout, one event a line:   STATE <name> <message>   each call state change
 *                             READY                    streams running (text can flow)
 *                             RECV <line>              a line of received text (ended by U+2028 or LF)
 *                             EXIT <code>
 */
#include <linphone/core.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static LinphoneCall *current_call = NULL;
static LinphoneChatMessage *outgoing = NULL;
static int finished = 0;
static int exit_code = 0;
static char received[65536];
static size_t received_len = 0;

static void emit(const char *kind, const char *text) {
  printf("%s %s\n", kind, text);
  fflush(stdout);
}

/* Appends one code point as UTF-8 to the received line. */
static void append_utf8(uint32_t cp) {
  char out[4];
  size_t n;
  if (cp < 0x80) {
    out[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
    n = 2;
  } else if (cp < 0x10000) {
    out[0] = (char)(0xe0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    n = 3;
  } else {
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    n = 4;
  }
  if (received_len + n < sizeof(received) - 1) {
    memcpy(received + received_len, out, n);
    received_len += n;
  }
}

static void flush_line(void) {
  received[received_len] = '\0';
  if (received_len > 0) emit("RECV", received);
  received_len = 0;
}

static void on_composing(LinphoneCore *core, LinphoneChatRoom *room) {
  (void)core;
  uint32_t cp;
  while ((cp = linphone_chat_room_get_char(room)) != 0) {
    if (cp == 0x2028 || cp == '\n') flush_line();
    else if (cp == 0xfeff || cp == '\r') continue; /* RFC 4103: BOM is a zero-width no-break space */
    else append_utf8(cp);
  }
}

static void on_call_state(LinphoneCore *core, LinphoneCall *call, LinphoneCallState state, const char *message) {
  (void)core;
  char line[512];
  snprintf(line, sizeof line, "%s %s", linphone_call_state_to_string(state), message ? message : "");
  emit("STATE", line);
  /* A subscriber's answer says a=sendonly, which liblinphone reads as being put on hold: its streams
   * still run, receive-only (RFC 3264 §6.1). */
  if (state == LinphoneCallStateStreamsRunning || state == LinphoneCallStatePausedByRemote) {
    current_call = call;
    emit("READY", linphone_call_get_remote_contact(call) ? linphone_call_get_remote_contact(call) : "");
  }
  if (state == LinphoneCallStateError) exit_code = 2;
  if (state == LinphoneCallStateReleased) {
    if (outgoing) linphone_chat_message_unref(outgoing);
    outgoing = NULL;
    current_call = NULL;
    finished = 1;
  }
}

/* Decodes UTF-8 and puts each code point on the call's real-time-text stream, then U+2028. */
static void send_text(const char *text) {
  if (!current_call) {
    emit("ERROR", "no call to send on");
    return;
  }
  LinphoneChatRoom *room = linphone_call_get_chat_room(current_call);
  if (!outgoing) outgoing = linphone_chat_room_create_empty_message(room);
  const unsigned char *p = (const unsigned char *)text;
  while (*p) {
    uint32_t cp;
    int extra;
    if (*p < 0x80) { cp = *p; extra = 0; }
    else if ((*p & 0xe0) == 0xc0) { cp = *p & 0x1f; extra = 1; }
    else if ((*p & 0xf0) == 0xe0) { cp = *p & 0x0f; extra = 2; }
    else { cp = *p & 0x07; extra = 3; }
    p++;
    for (int i = 0; i < extra && (*p & 0xc0) == 0x80; i++, p++) cp = (cp << 6) | (*p & 0x3f);
    linphone_chat_message_put_char(outgoing, cp);
  }
  linphone_chat_message_put_char(outgoing, 0x2028);
}

static char pending[65536];
static size_t pending_len = 0;

static void read_commands(LinphoneCore *core) {
  struct pollfd fd = {.fd = 0, .events = POLLIN};
  if (poll(&fd, 1, 0) <= 0) return;
  ssize_t n = read(0, pending + pending_len, sizeof(pending) - pending_len - 1);
  if (n <= 0) {
    /* stdin closed: the test is gone; hang up. */
    if (current_call) linphone_call_terminate(current_call);
    else finished = 1;
    return;
  }
  pending_len += (size_t)n;
  char *nl;
  while ((nl = memchr(pending, '\n', pending_len)) != NULL) {
    *nl = '\0';
    if (strncmp(pending, "SEND ", 5) == 0) send_text(pending + 5);
    else if (strcmp(pending, "BYE") == 0) {
      if (current_call) linphone_call_terminate(current_call);
      else linphone_core_terminate_all_calls(core);
    }
    size_t used = (size_t)(nl - pending) + 1;
    memmove(pending, nl + 1, pending_len - used);
    pending_len -= used;
  }
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s <outbound-proxy> <identity> <target-uri> <subject>\n", argv[0]);
    return 64;
  }
  const char *proxy = argv[1], *identity = argv[2], *target = argv[3], *subject = argv[4];
  const char *role = argc > 5 ? argv[5] : "both";
  const char *direction = NULL;
  if (strcmp(role, "publisher") == 0) direction = "sendonly";
  else if (strcmp(role, "subscriber") == 0) direction = "recvonly";
  else if (strcmp(role, "both") != 0) {
    fprintf(stderr, "role %s: expected publisher, subscriber or both\n", role);
    return 64;
  }
  LinphoneFactory *factory = linphone_factory_get();
  LinphoneCoreCbs *cbs = linphone_factory_create_core_cbs(factory);
  linphone_core_cbs_set_call_state_changed(cbs, on_call_state);
  linphone_core_cbs_set_is_composing_received(cbs, on_composing);
  LinphoneCore *core = linphone_factory_create_core_3(factory, NULL, NULL, NULL);
  linphone_core_add_callbacks(core, cbs);
  linphone_core_cbs_unref(cbs);

  LinphoneTransports *transports = linphone_factory_create_transports(factory);
  linphone_transports_set_udp_port(transports, LC_SIP_TRANSPORT_RANDOM);
  linphone_transports_set_tcp_port(transports, LC_SIP_TRANSPORT_DISABLED);
  linphone_transports_set_tls_port(transports, LC_SIP_TRANSPORT_DISABLED);
  linphone_core_set_transports(core, transports);
  linphone_transports_unref(transports);
  linphone_core_set_text_port(core, -1);
  linphone_core_set_audio_port(core, -1);
  linphone_core_enable_ipv6(core, FALSE);
  linphone_core_set_use_files(core, TRUE);
  linphone_core_enable_realtime_text(core, TRUE);
  linphone_core_set_user_agent(core, "sip-pubsub-interop-rtt-peer", "1");
  if (linphone_core_start(core) != 0) {
    emit("EXIT", "70");
    return 70;
  }

  LinphoneProxyConfig *config = linphone_core_create_proxy_config(core);
  LinphoneAddress *id = linphone_factory_create_address(factory, identity);
  if (!id) {
    fprintf(stderr, "bad identity %s\n", identity);
    return 64;
  }
  linphone_proxy_config_edit(config);
  linphone_proxy_config_set_identity_address(config, id);
  linphone_proxy_config_set_server_addr(config, proxy);
  linphone_proxy_config_set_route(config, proxy);
  linphone_proxy_config_enable_register(config, FALSE);
  linphone_proxy_config_done(config);
  linphone_core_add_proxy_config(core, config);
  linphone_core_set_default_proxy_config(core, config);
  linphone_address_unref(id);

  LinphoneCallParams *params = linphone_core_create_call_params(core, NULL);
  linphone_call_params_enable_audio(params, FALSE);
  linphone_call_params_enable_video(params, FALSE);
  linphone_call_params_enable_realtime_text(params, TRUE);
  if (subject[0] != '\0') linphone_call_params_add_custom_header(params, "Subject", subject);
  if (direction) linphone_call_params_add_custom_sdp_media_attribute(params, LinphoneStreamTypeText, direction, NULL);
  LinphoneAddress *to = linphone_factory_create_address(factory, target);
  if (!to) {
    fprintf(stderr, "bad target %s\n", target);
    return 64;
  }
  LinphoneCall *call = linphone_core_invite_address_with_params(core, to, params);
  linphone_address_unref(to);
  linphone_call_params_unref(params);
  if (!call) {
    emit("EXIT", "69");
    return 69;
  }

  while (!finished) {
    linphone_core_iterate(core);
    read_commands(core);
    usleep(10000);
  }
  flush_line();
  /* Let the last transaction (the BYE's response, or our 200 to a BYE) leave before stopping. */
  for (int i = 0; i < 50; i++) {
    linphone_core_iterate(core);
    usleep(10000);
  }
  linphone_core_stop(core);
  linphone_core_unref(core);
  char code[8];
  snprintf(code, sizeof code, "%d", exit_code);
  emit("EXIT", code);
  return exit_code;
}
