"""Fast construction of exactly the QR symbols that the qrcode library builds."""

from bisect import bisect_left
from functools import lru_cache
from operator import itemgetter

import qrcode
from qrcode import base, exceptions, util

# qrcode spends about 7 ms on a short URL: bit by bit buffers, polynomial objects for
# Reed-Solomon, and rebuilding and walking the whole matrix in Python for each of the 8
# masks. That alone would take over a minute for 10,000 signs. Here the same steps use
# strings, tables and big-integer operations, and everything that depends only on
# (version, error level) is learnt once from qrcode itself:
#   * the candidate matrix of a mask is (symbol of all-zero data) XOR (data bits placed
#     at their positions), so placement is one precomputed permutation;
#   * while scoring, qrcode leaves the format bits light, so the 8 candidates differ by
#     a fixed pattern per mask, and the final symbol differs from its candidate by fixed
#     format and version bits.
# The result (codewords, chosen mask, modules) is identical to qrcode's; the tests check
# it against qrcode on random data of every version and error level.
#
# A matrix is held as two big ints, its rows and its columns: each line n bits, one 0
# bit between lines (stride n + 1), first line in the most significant bits.

_FINDER_LIKE = ("10111010000", "00001011101")
_BITS = bytes.maketrans(b"\x00\x01", b"01")


class FastQRCode(qrcode.QRCode):
    """qrcode.QRCode that builds the same symbol several times faster."""

    def best_fit(self, start=None):
        # The logic of qrcode.QRCode.best_fit, with a faster bit buffer.
        if start is None:
            start = 1
        util.check_version(start)
        mode_sizes = util.mode_sizes_for_version(start)
        buffer = _BitString()
        for data in self.data_list:
            buffer.put(data.mode, 4)
            buffer.put(len(data), mode_sizes[data.mode])
            data.write(buffer)
        self.version = bisect_left(util.BIT_LIMIT_TABLE[self.error_correction], len(buffer), start)
        if self.version == 41:
            raise exceptions.DataOverflowError()
        if mode_sizes is not util.mode_sizes_for_version(self.version):
            self.best_fit(start=self.version)
        return self.version

    def make(self, fit=True):
        if fit or self.version is None:
            self.best_fit(start=self.version)
        if self.data_cache is None:
            self.data_cache = create_codewords(self.version, self.error_correction, self.data_list)
        plan = _plan(self.version, self.error_correction)
        rows, cols = plan.candidate(self.data_cache)
        pattern = self.mask_pattern if self.mask_pattern is not None else plan.best_mask(rows, cols)
        self.modules = plan.symbol(rows, pattern)
        self.modules_count = plan.size

    def best_mask_pattern(self):
        if self.data_cache is None:
            self.data_cache = create_codewords(self.version, self.error_correction, self.data_list)
        plan = _plan(self.version, self.error_correction)
        return plan.best_mask(*plan.candidate(self.data_cache))


class _BitString:
    """The put/put_bit interface of qrcode.util.BitBuffer, collecting '0'/'1' text."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0

    def put(self, num: int, length: int) -> None:
        self._parts.append(format(num & ((1 << length) - 1), f"0{length}b"))
        self._length += length

    def put_bit(self, bit: bool) -> None:
        self._parts.append("1" if bit else "0")
        self._length += 1

    def __len__(self) -> int:
        return self._length

    def bits(self) -> str:
        return "".join(self._parts)


def create_codewords(version: int, error_correction: int, data_list) -> list[int]:
    """What qrcode.util.create_data returns: data and error correction codewords, interleaved."""
    buffer = _BitString()
    for data in data_list:
        buffer.put(data.mode, 4)
        buffer.put(len(data), util.length_in_bits(data.mode, version))
        data.write(buffer)
    blocks = base.rs_blocks(version, error_correction)
    bit_limit = sum(block.data_count * 8 for block in blocks)
    if len(buffer) > bit_limit:
        raise exceptions.DataOverflowError(
            f"Code length overflow. Data size ({len(buffer)}) > size available ({bit_limit})"
        )
    bits = buffer.bits()
    bits += "0" * min(bit_limit - len(bits), 4)  # terminator
    bits += "0" * (-len(bits) % 8)
    data = int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""
    fill = bit_limit // 8 - len(data)
    data += (bytes((util.PAD0, util.PAD1)) * (fill // 2 + 1))[:fill]

    data_blocks, ec_blocks = [], []
    offset = 0
    for block in blocks:
        chunk = data[offset : offset + block.data_count]
        offset += block.data_count
        data_blocks.append(chunk)
        ec_blocks.append(_rs_remainder(chunk, block.total_count - block.data_count))
    codewords = []
    for group in (data_blocks, ec_blocks):
        for index in range(max(len(block) for block in group)):
            codewords.extend(block[index] for block in group if index < len(block))
    return codewords


@lru_cache(maxsize=None)
def _rs_table(ec_count: int) -> tuple[int, ...]:
    """For each byte f: f times the generator's lower coefficients, as one big-endian int."""
    exp, log = base.EXP_TABLE, base.LOG_TABLE
    generator = [1]  # product of (x + a^i), i < ec_count, highest power first
    for i in range(ec_count):
        root = exp[i % 255]
        product = generator + [0]
        for j, coefficient in enumerate(generator):
            if coefficient:
                product[j + 1] ^= exp[(log[coefficient] + log[root]) % 255]
        generator = product
    table = [0]
    for factor in range(1, 256):
        row = bytes(exp[(log[factor] + log[c]) % 255] if c else 0 for c in generator[1:])
        table.append(int.from_bytes(row, "big"))
    return tuple(table)


def _rs_remainder(data: bytes, ec_count: int) -> bytes:
    """The Reed-Solomon error correction codewords of one block (polynomial division as a shift register)."""
    table = _rs_table(ec_count)
    top = 8 * (ec_count - 1)
    full = (1 << (8 * ec_count)) - 1
    register = 0
    for byte in data:
        register = ((register << 8) & full) ^ table[byte ^ (register >> top)]
    return register.to_bytes(ec_count, "big")


def pack_matrix(modules) -> tuple[int, int]:
    """The rows and the columns of a square boolean matrix as packed big ints."""
    return _pack_lines(modules), _pack_lines(zip(*modules))


def _pack_lines(lines) -> int:
    return int(b"\x00".join(bytes(line) for line in lines).translate(_BITS), 2)


class _Plan:
    """What never changes between symbols of one version and error level."""

    def __init__(self, version: int, error_correction: int):
        reference = qrcode.QRCode(version=version, error_correction=error_correction)
        total = sum(block.total_count for block in base.rs_blocks(version, error_correction))
        n = self.size = version * 4 + 17
        self._stride = n + 1
        self._width = n * (n + 1) - 1

        def build(data_byte: int, mask: int, test: bool) -> list[list[bool]]:
            reference.data_cache = [data_byte] * total
            reference.makeImpl(test, mask)
            return [list(row) for row in reference.modules]

        zero, ones = build(0, 0, True), build(0xFF, 0, True)
        self._rows, self._cols = pack_matrix(zero)
        # The positions the codeword bits land on, in qrcode.QRCode.map_data's order.
        order = list(_placement_walk(n, lambda r, c: zero[r][c] != ones[r][c]))
        assert len(order) == 8 * total
        self._bit_count = 8 * total
        unused = self._bit_count  # index of the "0" appended to the bit string
        row_map, col_map = [unused] * self._width, [unused] * self._width
        for index, (r, c) in enumerate(order):
            row_map[r * self._stride + c] = index
            col_map[c * self._stride + r] = index
        self._place_rows, self._place_cols = itemgetter(*row_map), itemgetter(*col_map)

        self._mask_deltas = []
        self._final_deltas = []
        for mask in range(8):
            test_rows, test_cols = pack_matrix(build(0, mask, True))
            final_rows, _ = pack_matrix(build(0, mask, False))
            self._mask_deltas.append((test_rows ^ self._rows, test_cols ^ self._cols))
            self._final_deltas.append(final_rows ^ test_rows)

    def candidate(self, codewords: list[int]) -> tuple[int, int]:
        """Packed rows and columns of the mask-0 scoring candidate for these codewords."""
        bits = format(int.from_bytes(bytes(codewords), "big"), f"0{self._bit_count}b") + "0"
        rows = self._rows ^ int("".join(self._place_rows(bits)), 2)
        cols = self._cols ^ int("".join(self._place_cols(bits)), 2)
        return rows, cols

    def best_mask(self, rows: int, cols: int) -> int:
        """The mask qrcode.QRCode.best_mask_pattern picks: the first with the lowest lost point."""
        best_pattern, best_score = 0, 0
        for pattern, (row_delta, col_delta) in enumerate(self._mask_deltas):
            score = lost_point_packed(rows ^ row_delta, cols ^ col_delta, self.size)
            if pattern == 0 or score < best_score:
                best_pattern, best_score = pattern, score
        return best_pattern

    def symbol(self, rows: int, pattern: int) -> list[list[bool]]:
        """The final modules for the mask-0 candidate `rows` under mask `pattern`."""
        final = rows ^ self._mask_deltas[pattern][0] ^ self._final_deltas[pattern]
        text = format(final, f"0{self._width}b")
        stride, n = self._stride, self.size
        return [list(map("1".__eq__, text[start : start + n])) for start in range(0, self._width, stride)]


@lru_cache(maxsize=None)
def _plan(version: int, error_correction: int) -> _Plan:
    return _Plan(version, error_correction)


def _placement_walk(n: int, is_data):
    """Yield data positions in the zigzag order of qrcode.QRCode.map_data."""
    direction = -1
    row = n - 1
    for col in range(n - 1, 0, -2):
        if col <= 6:
            col -= 1
        while True:
            for c in (col, col - 1):
                if is_data(row, c):
                    yield row, c
            row += direction
            if row < 0 or n <= row:
                row -= direction
                direction = -direction
                break


@lru_cache(maxsize=64)
def _windows(n: int, width: int) -> int:
    """Bits i of a packed n x n matrix where a window of `width` bits starting at i stays inside one line."""
    per_line = (1 << (n - width + 1)) - 1
    return sum(per_line << (line * (n + 1)) for line in range(n))


@lru_cache(maxsize=64)
def _all_but_last_line(n: int) -> int:
    return sum(((1 << n) - 1) << (line * (n + 1)) for line in range(n - 1))


def lost_point_packed(rows: int, cols: int, n: int) -> int:
    """qrcode.util.lost_point of an n x n matrix given as packed rows and columns."""
    pairs = _windows(n, 2)
    score = 0
    for packed in (rows, cols):
        # Rule 1: each run of k >= 5 same-coloured modules costs k - 2. `same` marks
        # neighbours of equal colour; `long` starts 5-module windows of one colour, and a
        # run of k has k - 4 of them in one block, plus 2 more points per run.
        same = ~(packed ^ (packed >> 1)) & pairs
        long = same & (same >> 1) & (same >> 2) & (same >> 3)
        score += long.bit_count() + 2 * (long & ~(long << 1)).bit_count()
        # Rule 3: 40 for every 1:1:3:1:1 finder-like pattern with 4 light modules beside it.
        for pattern in _FINDER_LIKE:
            hits = _windows(n, len(pattern))
            for shift, bit in enumerate(reversed(pattern)):
                hits &= (packed >> shift) if bit == "1" else ~(packed >> shift)
            score += 40 * hits.bit_count()
    # Rule 2: 3 for every 2x2 block of one colour (line j and line j + 1 are n + 1 bits apart).
    vertical = ~(rows ^ (rows >> (n + 1))) & _all_but_last_line(n)
    blocks = vertical & (vertical >> 1) & ~(rows ^ (rows >> 1)) & pairs
    score += 3 * blocks.bit_count()
    # Rule 4: 10 for every full 5% the dark share departs from 50%, computed as qrcode does.
    percent = float(rows.bit_count()) / (n**2)
    score += int(abs(percent * 100 - 50) / 5) * 10
    return score
