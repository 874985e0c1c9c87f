# SPDX-License-Identifier: MIT
# A test's systemd notify socket: binds the datagram socket argv[1], creates argv[1].ready
# once it listens, and appends every datagram to argv[2] as one line ("|" for its
# newlines). Runs until killed.
import socket
import sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[1] + ".ready", "w").close()
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        log.write(s.recv(4096).decode("utf-8", "replace").replace("\n", "|") + "\n")
