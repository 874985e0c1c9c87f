# SPDX-License-Identifier: MIT
# A test's systemd notify socket: binds the datagram socket argv[1], creates argv[1].ready
# once it listens, and appends every datagram to argv[2] as one line ("|" for its
# newlines); with a third argument "stamp", each line starts with the seconds since it
# started listening. Runs until killed.
import socket
import sys
import time

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[1] + ".ready", "w").close()
stamp = len(sys.argv) > 3 and sys.argv[3] == "stamp"
t0 = time.monotonic()
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        msg = s.recv(4096).decode("utf-8", "replace").replace("\n", "|")
        log.write(("%.2f " % (time.monotonic() - t0) if stamp else "") + msg + "\n")
