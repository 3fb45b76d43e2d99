#!/usr/bin/env python3
# Independent derivation of noise layout versions 1 and 2 (random.hpp) in plain Python floats.
import math, struct
M32 = 0xffffffff
def philox(ctr, key):
    c = list(ctr); k = list(key)
    for r in range(10):
        p0 = 0xD2511F53 * c[0]; p1 = 0xCD9E8D57 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ k[0]) & M32, p1 & M32, ((p0 >> 32) ^ c[3] ^ k[1]) & M32, p0 & M32]
        k = [(k[0] + 0x9E3779B9) & M32, (k[1] + 0xBB67AE85) & M32]
    return c
assert philox([0,0,0,0],[0,0]) == [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
assert philox([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],[0xa4093822, 0x299f31d0]) == [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
def bits(x): return struct.unpack('<Q', struct.pack('<d', x))[0]
def frombits(b): return struct.unpack('<d', struct.pack('<Q', b))[0]
def log_poly(u):
    b = bits(u)
    e = float((b >> 52) - 1023)
    m1 = frombits((b & 0x000fffffffffffff) | 0x3ff0000000000000)
    big = m1 > 1.4142135623730951
    m = 0.5 * m1 if big else m1
    k = e + 1.0 if big else e
    s = (m - 1.0) / (m + 1.0); s2 = s * s
    c = [1.0/3, 1.0/5, 1.0/7, 1.0/9, 1.0/11, 1.0/13, 1.0/15, 1.0/17, 1.0/19, 1.0/21, 1.0/23]
    p = c[-1]
    for ci in reversed(c[:-1]): p = ci + s2 * p
    ln2_hi = 6.93147180369123816490e-01; ln2_lo = 1.90821492927058770002e-10
    return k * ln2_hi + (2.0 * s + (2.0 * s * s2 * p + k * ln2_lo))
def sincospi_poly(x):
    y = 2.0 * x
    q = (y + 6755399441055744.0) - 6755399441055744.0
    a = 3.14159265358979323846 * (0.5 * (y - q)); a2 = a * a
    sc = [1.0/6, 1.0/120, 1.0/5040, 1.0/362880, 1.0/39916800, 1.0/6227020800, 1.0/1307674368000, 1.0/355687428096000]
    sp = sc[-1]
    for ci in reversed(sc[:-1]): sp = ci - a2 * sp
    sn = a - a * a2 * sp
    cc = [1.0/2, 1.0/24, 1.0/720, 1.0/40320, 1.0/3628800, 1.0/479001600, 1.0/87178291200, 1.0/20922789888000, 1.0/6402373705728000]
    cp = cc[-1]
    for ci in reversed(cc[:-1]): cp = ci - a2 * cp
    cs = 1.0 - a2 * cp
    aq = abs(q); odd = aq == 1.0
    s1 = cs if odd else sn; c1 = sn if odd else cs
    return (-s1 if (aq == 2.0 or q == -1.0) else s1), (-c1 if (aq == 2.0 or q == 1.0) else c1)
def u01(u): return float(u) * 2.0**-64 + 2.0**-65
def uneg11(u):
    i = u - (1 << 64) if u >= (1 << 63) else u
    return float(i) * 2.0**-63 + 2.0**-64
def normals(version, seed, row, step, stage, stream, d):
    out = []
    for j in range((d + 1) // 2):
        w = philox([j, step, stage, stream], [row, seed])
        u0 = w[0] | (w[1] << 32); u1 = w[2] | (w[3] << 32)
        v0, v1 = uneg11(u0), u01(u1)
        if version == 1:
            r = math.sqrt(-2.0 * math.log(v1)); s, c = math.sin(math.pi * v0), math.cos(math.pi * v0)
        else:
            r = math.sqrt(-2.0 * log_poly(v1)); s, c = sincospi_poly(v0)
        out += [r * s, r * c]
    return out[:d]
print("v1", [x.hex() for x in normals(1, 7, 0, 0, 0, 0, 4)])
print("v2", [(x.hex(), repr(x)) for x in normals(2, 7, 0, 0, 0, 0, 4)])
print("v2 row 123456 seed 0xfffffffe step 9 stage 2 stream diffusion(1)", [(x.hex(), repr(x)) for x in normals(2, 0xfffffffe, 123456, 9, 2, 1, 3)])
