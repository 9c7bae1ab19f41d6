#!/usr/bin/python3
"""FTP and FTPS test client for the attls harness (tests/support/ftp.rs), built on ftplib.

Run with /usr/bin/python3 (the Debian interpreter). Options come first, then operations, which run
in order after the login:

    list              LIST of the current directory; each line printed as `list| LINE`
    nlst              NLST; each name printed as `nlst| NAME`
    pwd | cwd DIR     print / change the working directory
    retr REMOTE LOCAL download (binary); prints `bytes=N secs=S`
    stor LOCAL REMOTE upload (binary); prints `bytes=N secs=S`
    stor-cut LOCAL REMOTE N    upload the first N bytes, then close TCP without close_notify
    stor-reset LOCAL REMOTE N  upload the first N bytes, then reset the data connection
    ccc               CCC: the control connection goes back to clear text
    prot-p | prot-c   PBSZ 0 + PROT P / PROT C
    raw CMD           send CMD as one line, print the reply (any code)
    sleep SECS        wait (to test idle timeouts)
    quit              QUIT (else sent at the end, where a closed connection is no error)

Every reply is printed as `OP: REPLY` (continuation lines indented). With TLS the control socket's
protocol and cipher are printed as `tls: VERSION CIPHER`, and each protected data connection's as
`data-tls: VERSION CIPHER reused=BOOL`. On an error the script prints `error: OP: TEXT` to stdout
and stderr and exits 1 (2 for bad usage).
"""

import argparse
import ftplib
import socket
import ssl
import struct
import sys
import time


class Client(ftplib.FTP_TLS):
    """FTP_TLS that can resume the control connection's TLS session on data connections (the
    well-known subclass vsftpd's `require_ssl_reuse` needs), sends SNI for `servername` instead of
    the host address, and speaks implicit TLS when asked."""

    servername = None
    reuse = False
    implicit = False
    saved_session = None
    foreign_session = None

    def connect(self, host="", port=0, timeout=-999, source_address=None):
        if not self.implicit:
            return super().connect(host, port, timeout, source_address)
        self.host, self.port = host, port
        if timeout != -999:
            self.timeout = timeout
        sock = socket.create_connection((host, port), self.timeout)
        self.sock = self.context.wrap_socket(sock, server_hostname=self.servername)
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def auth(self):
        resp = self.voidcmd("AUTH TLS")
        self.sock = self.context.wrap_socket(self.sock, server_hostname=self.servername)
        self.file = self.sock.makefile(mode="r", encoding=self.encoding)
        return resp

    def control_session(self):
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.session is not None:
            return self.sock.session
        return self.saved_session

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            session = self.control_session() if self.reuse else None
            if self.foreign_session is not None:
                session = self.foreign_session
            conn = self.context.wrap_socket(conn, server_hostname=self.servername, session=session)
            say("data-tls", f"{conn.version()} {conn.cipher()[0]} reused={conn.session_reused}")
        return conn, size

    def ccc(self):
        self.saved_session = self.control_session()
        return super().ccc()


def say(op, text):
    lines = str(text).splitlines() or [""]
    print(f"{op}: {lines[0]}")
    for line in lines[1:]:
        print(f"    {line}")
    sys.stdout.flush()


def tls_context(args):
    ctx = ssl.create_default_context(cafile=args.cafile)
    if args.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    if args.tls_max:
        ctx.maximum_version = getattr(ssl.TLSVersion, "TLSv" + args.tls_max.replace(".", "_"))
    if args.tls_min:
        ctx.minimum_version = getattr(ssl.TLSVersion, "TLSv" + args.tls_min.replace(".", "_"))
    if args.ciphers:
        ctx.set_ciphers(args.ciphers)
    if args.no_ticket:
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


def timed_transfer(op, run):
    start = time.monotonic()
    count = [0]
    resp = run(count)
    secs = time.monotonic() - start
    say(op, f"{resp} bytes={count[0]} secs={secs:.3f}")


# Operations and how many arguments each takes.
ARITY = {"list": 0, "nlst": 0, "pwd": 0, "cwd": 1, "retr": 2, "stor": 2, "stor-cut": 3,
         "stor-reset": 3, "ccc": 0, "prot-p": 0, "prot-c": 0, "raw": 1, "sleep": 1, "quit": 0}


def parse_ops(words):
    """[(op, [args])], or a usage error before anything connects."""
    ops, i = [], 0
    while i < len(words):
        op = words[i]
        if op not in ARITY:
            usage(f"unknown operation `{op}`")
        args = words[i + 1:i + 1 + ARITY[op]]
        if len(args) < ARITY[op]:
            usage(f"`{op}` needs {ARITY[op]} argument(s)")
        ops.append((op, args))
        i += 1 + ARITY[op]
    return ops


def run_op(ftp, op, args):
    if op in ("list", "nlst"):
        lines = []
        resp = ftp.retrlines("LIST" if op == "list" else "NLST", lines.append)
        for line in lines:
            print(f"{op}| {line}")
        say(op, resp)
    elif op == "pwd":
        say(op, ftp.pwd())
    elif op == "cwd":
        say(op, ftp.cwd(args[0]))
    elif op == "retr":
        remote, local = args
        with open(local, "wb") as f:

            def retr(count):
                def write(block):
                    count[0] += len(block)
                    f.write(block)

                return ftp.retrbinary("RETR " + remote, write, blocksize=256 * 1024)

            timed_transfer(op, retr)
    elif op == "stor":
        local, remote = args
        with open(local, "rb") as f:

            def stor(count):
                def sent(block):
                    count[0] += len(block)

                return ftp.storbinary("STOR " + remote, f, 256 * 1024, sent)

            timed_transfer(op, stor)
    elif op in ("stor-cut", "stor-reset"):
        local, remote, count = args
        say(op, broken_upload(ftp, local, remote, int(count), op == "stor-reset"))
    elif op == "ccc":
        say(op, ftp.ccc())
    elif op == "prot-p":
        say(op, ftp.prot_p())
    elif op == "prot-c":
        say(op, ftp.prot_c())
    elif op == "raw":
        ftp.putcmd(args[0])
        say(op, ftp.getmultiline())
    elif op == "sleep":
        time.sleep(float(args[0]))
    elif op == "quit":
        say(op, ftp.quit())


def broken_upload(ftp, local, remote, count, reset):
    """STOR whose data connection ends after `count` bytes: cut (a TCP FIN without close_notify) or
    reset (SO_LINGER 0). Returns the transfer's final reply, whatever its code."""
    with open(local, "rb") as f:
        data = f.read(count)
    conn, _ = ftp.ntransfercmd("STOR " + remote)
    conn.sendall(data)
    time.sleep(0.2)
    raw = socket.socket(fileno=conn.detach()) if isinstance(conn, ssl.SSLSocket) else conn
    if reset:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raw.close()
    try:
        return ftp.getresp()
    except ftplib.Error as e:
        return str(e)


def foreign_session(ftp, args):
    """The TLS session of another control connection (logged in the same way)."""
    other = Client(context=ftp.context, timeout=args.timeout)
    other.servername = args.servername
    other.connect(args.host, args.port)
    other.auth()
    other.login(args.user, args.password, secure=False)
    other.voidcmd("NOOP")
    return other, other.sock.session


def run_ops(ftp, ops):
    for op, args in ops:
        try:
            run_op(ftp, op, args)
        except (ftplib.Error, OSError, EOFError, ValueError) as e:
            fail(op, e)
        if op == "quit":
            return
    # The closing QUIT: a server that already closed (e.g. after a 530) is not an error here.
    try:
        say("quit", ftp.quit())
    except (ftplib.Error, OSError, EOFError) as e:
        say("quit", f"(no reply: {type(e).__name__}: {e})")


def usage(msg):
    print(f"usage: {msg}", file=sys.stderr, flush=True)
    sys.exit(2)


def fail(op, e):
    text = f"error: {op}: {type(e).__name__}: {e}"
    print(text, flush=True)
    print(text, file=sys.stderr, flush=True)
    sys.exit(1)


def main():
    p = argparse.ArgumentParser(description="FTP/FTPS test client (see the module doc)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=21)
    p.add_argument("--user", default="anonymous")
    p.add_argument("--password", default="anonymous@")
    p.add_argument("--tls", choices=["none", "explicit", "implicit"], default="none")
    p.add_argument("--prot-p", action="store_true", help="PBSZ 0 + PROT P after login")
    p.add_argument("--reuse-session", action="store_true", help="resume the control session on data")
    p.add_argument("--cafile")
    p.add_argument("--insecure", action="store_true", help="no certificate or name check")
    p.add_argument("--servername", default="localhost", help="SNI and expected certificate name")
    p.add_argument("--cert", help="client certificate chain (PEM)")
    p.add_argument("--key", help="client key (PEM)")
    p.add_argument("--tls-min", choices=["1.2", "1.3"])
    p.add_argument("--tls-max", choices=["1.2", "1.3"])
    p.add_argument("--ciphers", help="OpenSSL cipher list (TLS 1.2)")
    p.add_argument("--active", action="store_true", help="PORT instead of PASV")
    p.add_argument("--no-ticket", action="store_true", help="no session tickets: resume by session ID")
    p.add_argument("--foreign-session", action="store_true",
                   help="data connections offer the TLS session of another control connection")
    p.add_argument("--no-login", action="store_true", help="run the operations before any login")
    p.add_argument("--timeout", type=float, default=10.0, help="socket timeout, seconds")
    p.add_argument("ops", nargs=argparse.REMAINDER)
    args = p.parse_args()
    ops = parse_ops(args.ops)

    ftp = Client(context=tls_context(args), timeout=args.timeout)
    ftp.servername = args.servername
    ftp.reuse = args.reuse_session
    ftp.implicit = args.tls == "implicit"
    try:
        say("connect", ftp.connect(args.host, args.port))
    except (ftplib.Error, OSError, EOFError) as e:
        fail("connect", e)
    op = "login"
    try:
        if args.tls == "explicit":
            op = "auth"
            say(op, ftp.auth())
        if args.tls != "none":
            say("tls", f"{ftp.sock.version()} {ftp.sock.cipher()[0]}")
        ftp.set_pasv(not args.active)
        if not args.no_login:
            op = "login"
            say(op, ftp.login(args.user, args.password, secure=False))
        if args.prot_p:
            op = "prot-p"
            say(op, ftp.prot_p())
        if args.foreign_session:
            op = "foreign-session"
            keep, ftp.foreign_session = foreign_session(ftp, args)
    except (ftplib.Error, OSError, EOFError, ValueError) as e:
        fail(op, e)
    run_ops(ftp, ops)


if __name__ == "__main__":
    main()
