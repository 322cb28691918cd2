#!/usr/bin/env python3
"""Sends a synthetic bulk campaign to an SMTP server on loopback, for the demo and benchmarks.

campaign.py --port PORT --messages N [--domains D] [--max-recipients R] [--connections C]
            [--seed S] [--sender ADDR] [--domain-format FMT] [--plan-out FILE]
            [--body-out DIR]

Each message has 1..R recipients (user<k>@d<j>.campaign.test, domains drawn with a Zipf(1) skew
over D domains), a List-Unsubscribe header (so bulkq's default rules call it bulk) and a ~1 KB
body. C connections send in parallel, many messages per connection. --plan-out writes every
recipient (one per line, "recipient message-number"); --body-out writes each message exactly as
sent (CRLF) to DIR/<message-number>.eml, for byte-for-byte comparison at the sink. Prints one line at the end:
"sent M messages, K recipients in T s". Loopback only: the host is always 127.0.0.1.
"""
import argparse
import bisect
import email.utils
import random
import smtplib
import sys
import threading
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--domains", type=int, default=50)
    parser.add_argument("--max-recipients", type=int, default=10)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sender", default="news@campaign-sender.test")
    parser.add_argument("--domain-format", default="d%d.campaign.test")
    parser.add_argument("--plan-out")
    parser.add_argument("--body-out")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    weights = [1.0 / (k + 1) for k in range(args.domains)]
    cumulative = []
    total = 0.0
    for w in weights:
        total += w
        cumulative.append(total)

    def domain() -> str:
        return args.domain_format % bisect.bisect_left(cumulative, rng.random() * total)

    plan = []
    user = 0
    for m in range(args.messages):
        rcpts = []
        for _ in range(rng.randint(1, args.max_recipients)):
            user += 1
            rcpts.append("user%d@%s" % (user, domain()))
        plan.append((m, rcpts))

    if args.plan_out:
        with open(args.plan_out, "w") as out:
            for number, rcpts in plan:
                for rcpt in rcpts:
                    out.write("%s %d\n" % (rcpt, number))
    body = "\r\n".join("line %02d of the campaign body, padding to about one kilobyte." % i
                       for i in range(16))
    lock = threading.Lock()
    sent = [0, 0]
    errors = []

    def worker(index: int) -> None:
        mine = plan[index::args.connections]
        try:
            with smtplib.SMTP("127.0.0.1", args.port, timeout=60) as smtp:
                smtp.ehlo("campaign.bulkq.test")
                for number, rcpts in mine:
                    message = (
                        "From: Campaign <%s>\r\nTo: subscribers@campaign.test\r\n"
                        "Subject: campaign message %d\r\nList-Unsubscribe: <mailto:unsub@campaign.test>\r\n"
                        "Message-ID: <campaign-%d@campaign-sender.test>\r\nDate: %s\r\n\r\n%s\r\n"
                        % (args.sender, number, number, email.utils.formatdate(), body))
                    if args.body_out:
                        with open("%s/%d.eml" % (args.body_out, number), "w", newline="") as out:
                            out.write(message)
                    smtp.sendmail(args.sender, rcpts, message)
                    with lock:
                        sent[0] += 1
                        sent[1] += len(rcpts)
        except (smtplib.SMTPException, OSError) as error:
            with lock:
                errors.append(str(error))

    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    print("sent %d messages, %d recipients in %.1f s" % (sent[0], sent[1], elapsed))
    for error in errors:
        print("campaign: %s" % error, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
