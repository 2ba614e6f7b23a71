#!/usr/bin/env python3
"""mkcorpus.py - write the seed inputs of the fuzz targets that take
structured input (tests/fuzz/corpus/NAME/).  Run from the repository root
after changing a target's input format; the files are committed."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integ"))
import coap  # noqa: E402
from coap import CON, NON, ACK, RST, encode, uri_options  # noqa: E402

GET, PUT, DELETE = 1, 3, 4
SEP = b"\n--\n"


def dgrams(*items):
    """items: (peer, steps, bytes)"""
    return SEP.join(bytes([(steps << 2) | peer]) + b for peer, steps, b in
                    items)


def block(num, more, szx):
    return (num << 4) | (8 if more else 0) | szx


def write(name, files):
    d = os.path.join("tests", "fuzz", "corpus", name)
    os.makedirs(d, exist_ok=True)
    for fn, data in files.items():
        with open(os.path.join(d, fn), "wb") as f:
            f.write(data)


def dispatch():
    tok = b"\x01\x02"
    up = lambda n, more, body, mid, tag=None: encode(  # noqa: E731
        CON, PUT, mid, tok, uri_options("/up/f.bin") +
        [(coap.BLOCK1, block(n, more, 0))] +
        ([(292, tag)] if tag else []), body)
    files = {
        "get-hello": dgrams((0, 0, encode(CON, GET, 1, tok,
                                           uri_options("/hello")))),
        "get-dup": dgrams((0, 0, encode(CON, GET, 2, tok,
                                         uri_options("/hello"))),
                          (0, 1, encode(CON, GET, 2, tok,
                                        uri_options("/hello")))),
        "block2": dgrams(*[(1, 0, encode(CON, GET, 10 + i, tok,
                                         uri_options("/files/big.bin") +
                                         [(coap.BLOCK2, block(i, False, 2))]))
                           for i in range(4)]),
        "block2-far": dgrams((1, 0, encode(CON, GET, 9, tok,
                                           uri_options("/files/big.bin") +
                                           [(coap.BLOCK2,
                                             block(0xfffff, False, 6))]))),
        "upload": dgrams((0, 0, up(0, True, b"a" * 16, 20)),
                         (0, 0, up(1, True, b"b" * 16, 21)),
                         (0, 0, up(1, True, b"b" * 16, 22)),
                         (0, 0, up(2, False, b"c" * 5, 23)),
                         (0, 0, encode(CON, GET, 24, tok,
                                       uri_options("/up/f.bin")))),
        "upload-abandoned": dgrams((2, 0, up(0, True, b"x" * 16, 30)),
                                   (2, 63, up(1, True, b"y" * 16, 31)),
                                   (2, 63, up(2, False, b"z", 32))),
        "upload-tagged": dgrams((0, 0, up(0, True, b"a" * 16, 40, b"t1")),
                                (0, 0, up(0, True, b"b" * 16, 41, b"t2")),
                                (0, 0, up(1, False, b"A", 42, b"t1")),
                                (0, 0, up(1, False, b"B", 43, b"t2"))),
        "put-delete": dgrams((3, 0, encode(CON, PUT, 50, tok,
                                           uri_options("/up/g.txt") +
                                           [(coap.IF_NONE_MATCH, b"")],
                                           b"hello")),
                             (3, 0, encode(CON, DELETE, 51, tok,
                                           uri_options("/up/g.txt")))),
        "observe": dgrams((0, 0, encode(CON, GET, 60, b"ob",
                                         [(coap.OBSERVE, 0)] +
                                         uri_options("/hello"))),
                          (0, 5, encode(RST, 0, 60)),
                          (0, 1, encode(CON, GET, 61, b"ob",
                                        [(coap.OBSERVE, 1)] +
                                        uri_options("/hello")))),
        "slow-con": dgrams((0, 0, encode(CON, GET, 70, b"s1",
                                         uri_options("/slow?ms=500"))),
                           (0, 1, encode(CON, GET, 70, b"s1",
                                         uri_options("/slow?ms=500"))),
                           (0, 20, encode(ACK, 0, 1))),
        "slow-rst": dgrams((1, 0, encode(CON, GET, 80, b"s2",
                                         uri_options("/slow?ms=3000"))),
                           (1, 2, encode(RST, 0, 80))),
        "slow-non": dgrams((2, 0, encode(NON, GET, 90, b"s3",
                                         uri_options("/slow?ms=10")))),
        "private": dgrams((0, 0, encode(CON, GET, 100, tok,
                                         uri_options("/private"))),
                          (3, 0, encode(CON, GET, 101, tok,
                                        uri_options("/private")))),
        "wellknown": dgrams((0, 0, encode(CON, GET, 110, tok,
                                           uri_options(
                                               "/.well-known/core?rt=x")))),
        "malformed": dgrams((0, 0, b"\x40\x01\x00"),
                            (0, 0, b"\x4f\x01\x00\x01"),
                            (0, 0, encode(CON, GET, 120, tok,
                                          [(9, b"x")]))),
    }
    write("dispatch", files)


def main():
    dispatch()


if __name__ == "__main__":
    main()
