#!/usr/bin/env python3
"""A mailbox's IMAP state, for the mailbox-move tests (Python's imaplib, IMAPS, certificates
not verified: the lab's nodes have self-signed ones).

Usage:
  mailbox_state.py fill  HOST USER PASSWORD N   N messages over INBOX and three folders (made
                                                and subscribed), every third read, every fifth
                                                flagged, every seventh answered
  mailbox_state.py fill-sized HOST USER PASSWORD N BYTES
                                                the same, each message about BYTES long (a
                                                line of text and an attachment of random
                                                bytes, base64), for move throughput figures
  mailbox_state.py state HOST USER PASSWORD     JSON: per folder its UIDVALIDITY, UIDNEXT and
                                                each message's UID, flags and Message-ID; the
                                                subscribed folders
"""
import base64
import imaplib
import json
import random
import re
import ssl
import sys

FOLDERS = ["INBOX", "Archive", "Work", "Lists"]


def session(host, user, password):
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    m = imaplib.IMAP4_SSL(host, 993, ssl_context=c, timeout=60)
    m.login(user, password)
    return m


def append_all(host, user, password, n, message):
    """Appends message(i) for i < n over FOLDERS (made and subscribed first): every third read,
    every fifth flagged, every seventh answered."""
    m = session(host, user, password)
    for f in FOLDERS[1:]:
        m.create(f)
        m.subscribe(f)
    for i in range(n):
        folder = FOLDERS[i % len(FOLDERS)]
        flags = []
        if i % 3 == 0:
            flags.append("\\Seen")
        if i % 5 == 0:
            flags.append("\\Flagged")
        if i % 7 == 0:
            flags.append("\\Answered")
        typ, _ = m.append(folder, "(" + " ".join(flags) + ")", None, message(i))
        if typ != "OK":
            sys.exit(f"APPEND {i} to {folder}: {typ}")
    m.logout()


def fill(host, user, password, n):
    def message(i):
        return (
            f"From: filler@client.example\r\nTo: {user}\r\nSubject: message {i}\r\n"
            f"Message-ID: <fill-{i}@client.example>\r\n\r\n"
            + f"line {i} of the mailbox move test\r\n" * 20
        ).encode()

    append_all(host, user, password, n, message)


def fill_sized(host, user, password, n, size):
    def message(i):
        head = (
            f"From: filler@client.example\r\nTo: {user}\r\nSubject: message {i}\r\n"
            f"Message-ID: <fill-{i}@client.example>\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
            f"--b\r\nContent-Type: text/plain\r\n\r\nmessage {i}, with an attachment\r\n"
            "--b\r\nContent-Type: application/octet-stream\r\n"
            f'Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="{i}.bin"\r\n\r\n'
        ).encode()
        tail = b"\r\n--b--\r\n"
        # base64 takes 4 bytes (and 2 per 76-character line) for every 3; random bytes, so
        # nothing on the way compresses them.
        raw = max(0, (size - len(head) - len(tail)) * 3 * 76 // (4 * 78))
        body = base64.encodebytes(random.Random(i).randbytes(raw)).replace(b"\n", b"\r\n")
        return head + body + tail

    append_all(host, user, password, n, message)


def state(host, user, password):
    m = session(host, user, password)
    out = {"folders": {}, "subscribed": []}
    typ, lines = m.lsub()
    for line in lines or []:
        if line:
            out["subscribed"].append(line.decode().rsplit(" ", 1)[-1].strip('"'))
    out["subscribed"].sort()
    typ, lines = m.list()
    names = sorted(line.decode().rsplit(" ", 1)[-1].strip('"') for line in lines if line)
    for name in names:
        typ, data = m.status(name, "(UIDVALIDITY UIDNEXT MESSAGES)")
        st = data[0].decode()
        uidvalidity = int(re.search(r"UIDVALIDITY (\d+)", st).group(1))
        uidnext = int(re.search(r"UIDNEXT (\d+)", st).group(1))
        m.select(name, readonly=True)
        messages = []
        typ, data = m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        for item in data or []:
            if not isinstance(item, tuple):
                continue
            meta = item[0].decode()
            uid = int(re.search(r"UID (\d+)", meta).group(1))
            # \Recent belongs to a session, not to the mailbox.
            flags = sorted(
                f for f in re.search(r"FLAGS \(([^)]*)\)", meta).group(1).split()
                if f != "\\Recent"
            )
            mid = item[1].decode().split(":", 1)[-1].strip()
            messages.append([uid, flags, mid])
        messages.sort()
        out["folders"][name] = {
            "uidvalidity": uidvalidity,
            "uidnext": uidnext,
            "messages": messages,
        }
        m.close()
    m.logout()
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "fill":
        fill(args[0], args[1], args[2], int(args[3]))
    elif cmd == "fill-sized":
        fill_sized(args[0], args[1], args[2], int(args[3]), int(args[4]))
    elif cmd == "state":
        state(*args[:3])
    else:
        sys.exit(__doc__)
