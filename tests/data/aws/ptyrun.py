#!/usr/bin/env python3
"""Runs a command on a new pseudo-terminal (its controlling terminal),
answers one prompt with a line, and prints the whole transcript.

Usage: ptyrun.py PROMPT ANSWER_FILE COMMAND... (the answer, a secret such
as an MFA code, is read from a file, never from the command line). Exit
status: the command's. Gives up after 90 s.
"""
import os
import pty
import select
import sys
import time


def main():
    prompt = sys.argv[1].encode()
    answer = open(sys.argv[2]).read().strip().encode()
    cmd = sys.argv[3:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    buf = b""
    sent = False
    deadline = time.time() + 90
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 1)
        if fd not in r:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        buf += data
        if not sent and prompt in buf:
            os.write(fd, answer + b"\n")
            sent = True
    _, st = os.waitpid(pid, 0)
    sys.stdout.write(buf.decode(errors="replace"))
    sys.exit(os.waitstatus_to_exitcode(st))


main()
