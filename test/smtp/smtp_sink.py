#!/usr/bin/python3
"""SMTP sink for the delivery tests: accepts mail on 127.0.0.1 and stores
each message in a directory instead of relaying it.

Every accepted message is written as NNNNNN.eml (the DATA exactly as
received, after dot-unstuffing) and NNNNNN.json (the envelope, the client's
TCP port, which differs between connections, and a summary that Python's email
package parsed from the message: decoded headers and the decoded text of
each MIME part).

Recipients whose local part selects a reply make the sink reject RCPT TO:
  fail4xx@...      always 451 (transient)
  fail5xx@...      always 550 (permanent)
  flaky4xx-N@...   451 for the first N RCPT TO of that address, then 250

Usage: smtp_sink.py --dir DIR [--port PORT] [--port-file FILE]
                    [--auth USER:PASSWORD] [--count-only]
PORT 0 (the default) binds a free port; the port is written to FILE once
the server listens. SIGTERM and SIGINT stop the server, which then writes
the number of messages it accepted to DIR/count. --count-only stores no
message files, for benchmarks.
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import re
import signal

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

FLAKY_PATTERN = re.compile(r"^flaky4xx-(\d+)@", re.IGNORECASE)


class SinkHandler:
    """aiosmtpd handler that replies to RCPT TO by address pattern and stores
    accepted messages as files."""

    def __init__(self, directory, count_only=False):
        self.directory = directory
        self.count_only = count_only
        # A restarted sink goes on numbering after the stored messages.
        self.sequence = len([name for name in os.listdir(directory) if name.endswith(".eml")])
        self.flaky_rejections = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        lowered = address.lower()
        if lowered.startswith("fail4xx@"):
            return "451 4.3.0 Mailbox temporarily unavailable (sink fail4xx)"
        if lowered.startswith("fail5xx@"):
            return "550 5.1.1 Mailbox does not exist (sink fail5xx)"
        flaky = FLAKY_PATTERN.match(lowered)
        if flaky:
            rejected = self.flaky_rejections.get(lowered, 0)
            if rejected < int(flaky.group(1)):
                self.flaky_rejections[lowered] = rejected + 1
                return "451 4.3.0 Try again later (sink flaky4xx, rejection %d)" % (rejected + 1)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.sequence += 1
        if self.count_only:
            return "250 2.0.0 Counted as %06d" % self.sequence
        base = os.path.join(self.directory, "%06d" % self.sequence)
        content = envelope.original_content or envelope.content
        write_atomically(base + ".eml", content)
        summary = summarize(envelope.mail_from, envelope.rcpt_tos, content)
        summary["peer_port"] = session.peer[1]
        write_atomically(base + ".json", json.dumps(summary, ensure_ascii=False, indent=1).encode("utf-8"))
        return "250 2.0.0 Stored as %06d" % self.sequence


def write_atomically(path, data):
    """Write a file under a temporary name and rename it, so that a reader
    polling the directory never reads a partial file."""
    temporary = path + ".tmp"
    with open(temporary, "wb") as output:
        output.write(data)
    os.rename(temporary, path)


def summarize(mail_from, rcpt_tos, content):
    """Parse a message and return its envelope, decoded headers and parts."""
    message = email.message_from_bytes(content, policy=email.policy.default)
    headers = {}
    for name in ("From", "To", "Subject", "Message-ID", "Date", "MIME-Version", "Content-Type"):
        value = message.get(name)
        headers[name] = None if value is None else str(value)
    to_header = message.get("To")
    to_addresses = []
    if to_header is not None:
        to_addresses = [
            {"display_name": address.display_name, "addr_spec": address.addr_spec}
            for address in to_header.addresses
        ]
    parts = []
    for part in message.walk():
        if part.is_multipart():
            continue
        parts.append({
            "content_type": part.get_content_type(),
            "charset": part.get_content_charset(),
            "transfer_encoding": part.get("Content-Transfer-Encoding"),
            "text": part.get_content(),
        })
    return {
        "mail_from": mail_from,
        "rcpt_tos": list(rcpt_tos),
        "content_type": message.get_content_type(),
        "headers": headers,
        "to_addresses": to_addresses,
        "parts": parts,
        "defects": [type(defect).__name__ for defect in message.defects],
        "max_line_length": max((len(line) for line in content.split(b"\r\n")), default=0),
    }


def make_authenticator(expected_login, expected_password):
    """Return an aiosmtpd authenticator that accepts one login."""

    def authenticate(server, session, envelope, mechanism, auth_data):
        accepted = (isinstance(auth_data, LoginPassword)
                    and auth_data.login.decode() == expected_login
                    and auth_data.password.decode() == expected_password)
        # handled=False makes aiosmtpd send its 535 reply on failure.
        return AuthResult(success=accepted, handled=False)

    return authenticate


async def serve(arguments):
    handler = SinkHandler(arguments.dir, arguments.count_only)
    options = {"hostname": "sink.test", "enable_SMTPUTF8": True}
    if arguments.auth:
        login, password = arguments.auth.split(":", 1)
        options.update(authenticator=make_authenticator(login, password),
                       auth_required=True, auth_require_tls=False)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, **options),
                                      host="127.0.0.1", port=arguments.port)
    port = server.sockets[0].getsockname()[1]
    if arguments.port_file:
        write_atomically(arguments.port_file, str(port).encode())

    stop = asyncio.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()
    write_atomically(os.path.join(arguments.dir, "count"), str(handler.sequence).encode())


def main():
    parser = argparse.ArgumentParser(description="SMTP sink that stores messages as files")
    parser.add_argument("--dir", required=True, help="directory for the received messages")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 binds a free port")
    parser.add_argument("--port-file", help="file to write the bound port to")
    parser.add_argument("--auth", help="require AUTH with this USER:PASSWORD")
    parser.add_argument("--count-only", action="store_true",
                        help="store no messages, only count them (for benchmarks)")
    arguments = parser.parse_args()
    os.makedirs(arguments.dir, exist_ok=True)
    asyncio.run(serve(arguments))


if __name__ == "__main__":
    main()
