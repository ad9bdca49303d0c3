#!/usr/bin/env python3
"""Real IMAP and POP3 sessions for PigeonAir's end-to-end tests (Python's imaplib/poplib).

Usage (prints the fetched message's bytes to stdout, exit 0; a refused login exits 3):
  mailclient.py imap  HOST PORT tls|starttls|plain USER PASSWORD [UID]
  mailclient.py pop3  HOST PORT tls|starttls|plain USER PASSWORD [N]
  mailclient.py imap-count HOST PORT tls USER PASSWORD      (messages in INBOX)
  mailclient.py imap-delete-all HOST PORT tls USER PASSWORD
  mailclient.py imap-append HOST PORT tls USER PASSWORD N   (N APPENDs to INBOX in one session,
                                                        synchronizing literals; prints how many
                                                        were answered OK, exits 4 on a stall)
Certificates are not verified: the lab's node has a self-signed one.
"""
import imaplib
import poplib
import ssl
import sys


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def imap_session(host, port, mode, user, password):
    if mode == "tls":
        m = imaplib.IMAP4_SSL(host, port, ssl_context=ctx(), timeout=20)
    else:
        m = imaplib.IMAP4(host, port, timeout=20)
        if mode == "starttls":
            m.starttls(ssl_context=ctx())
    try:
        m.login(user, password)  # the LOGIN command
    except imaplib.IMAP4.error as e:
        print(f"login refused: {e}", file=sys.stderr)
        sys.exit(3)
    return m


def imap(args):
    host, port, mode, user, password = args[:5]
    uid = args[5] if len(args) > 5 else None
    m = imap_session(host, int(port), mode, user, password)
    typ, data = m.select("INBOX")
    assert typ == "OK", data
    if uid is None:
        typ, data = m.uid("SEARCH", None, "ALL")
        uid = data[0].split()[-1].decode()
    typ, data = m.uid("FETCH", uid, "(BODY.PEEK[])")
    assert typ == "OK", data
    sys.stdout.buffer.write(data[0][1])
    m.logout()


def imap_count(args):
    m = imap_session(args[0], int(args[1]), args[2], args[3], args[4])
    typ, data = m.select("INBOX")
    assert typ == "OK", data
    print(int(data[0]))
    m.logout()


def imap_delete_all(args):
    m = imap_session(args[0], int(args[1]), args[2], args[3], args[4])
    m.select("INBOX")
    m.store("1:*", "+FLAGS", "\\Deleted")
    m.expunge()
    m.logout()


def imap_append(args):
    m = imap_session(args[0], int(args[1]), args[2], args[3], args[4])
    n, done = int(args[5]), 0
    try:
        for i in range(n):
            body = (
                f"From: append@client.example\r\nTo: {args[3]}\r\nSubject: append {i}\r\n"
                f"Message-ID: <append-{i}@client.example>\r\n\r\n"
                + f"line {i} of the append test\r\n" * 20
            ).encode()
            typ, data = m.append("INBOX", None, None, body)
            assert typ == "OK", data
            done += 1
    except TimeoutError:  # no answer within the session's timeout: the session stalled
        print(done)
        sys.exit(4)
    print(done)
    m.logout()


def pop3(args):
    host, port, mode, user, password = args[:5]
    n = int(args[5]) if len(args) > 5 else None
    if mode == "tls":
        p = poplib.POP3_SSL(host, int(port), context=ctx(), timeout=20)
    else:
        p = poplib.POP3(host, int(port), timeout=20)
        if mode == "starttls":
            p.stls(context=ctx())
    try:
        p.user(user)  # USER / PASS
        p.pass_(password)
    except poplib.error_proto as e:
        print(f"login refused: {e}", file=sys.stderr)
        sys.exit(3)
    count, _ = p.stat()
    if n is None:
        n = count
    _, lines, _ = p.retr(n)
    sys.stdout.buffer.write(b"\r\n".join(lines) + b"\r\n")
    p.quit()


if __name__ == "__main__":
    cmd, rest = sys.argv[1], sys.argv[2:]
    {"imap": imap, "pop3": pop3, "imap-count": imap_count,
     "imap-delete-all": imap_delete_all, "imap-append": imap_append}[cmd](rest)
