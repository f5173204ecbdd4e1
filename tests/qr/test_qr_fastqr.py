"""Tests of qr._fastqr: the fast builder produces exactly qrcode's codewords, mask and symbol."""

import random

import pytest
import qrcode
from qrcode import util

from qr._fastqr import FastQRCode, create_codewords, lost_point_packed, pack_matrix

LEVELS = [
    qrcode.constants.ERROR_CORRECT_L,
    qrcode.constants.ERROR_CORRECT_M,
    qrcode.constants.ERROR_CORRECT_Q,
    qrcode.constants.ERROR_CORRECT_H,
]


def random_payload(rng: random.Random, length: int) -> str:
    # Mixed content makes qrcode split the data into numeric, alphanumeric and byte chunks.
    alphabet = rng.choice(["0123456789", "ABCDEFXYZ0123456789 $%*+-./:", "abcxyz/:.-?=&中文", "aZ09"])
    return "".join(rng.choice(alphabet) for _ in range(length))


def reference_and_fast(data: str, level: int) -> tuple[qrcode.QRCode, FastQRCode]:
    reference = qrcode.QRCode(error_correction=level, border=0)
    reference.add_data(data)
    reference.make()
    fast = FastQRCode(error_correction=level, border=0)
    fast.add_data(data)
    fast.make()
    return reference, fast


def test_lost_point_packed_equals_qrcodes_lost_point_on_random_matrices():
    rng = random.Random(3)
    for _ in range(300):
        n = rng.choice([21, 25, 29, 33, 37, 41, 45, 57, 77])
        dark_share = rng.random()
        matrix = [[rng.random() < dark_share for _ in range(n)] for _ in range(n)]
        rows, cols = pack_matrix(matrix)
        assert lost_point_packed(rows, cols, n) == util.lost_point(matrix)


def test_lost_point_packed_scores_runs_blocks_and_finder_patterns():
    n = 21
    all_light = [[False] * n for _ in range(n)]
    rows, cols = pack_matrix(all_light)
    # 42 runs of 21 (19 each), 400 blocks (3 each), no finder-like patterns, 0% dark (100).
    assert lost_point_packed(rows, cols, n) == 42 * 19 + 400 * 3 + 100 == util.lost_point(all_light)


def test_create_codewords_equals_qrcodes_create_data():
    rng = random.Random(11)
    for _ in range(120):
        level = rng.choice(LEVELS)
        code = qrcode.QRCode(error_correction=level)
        code.add_data(random_payload(rng, rng.randint(0, 600)))
        version = code.best_fit()
        assert create_codewords(version, level, code.data_list) == util.create_data(version, level, code.data_list)


def test_fast_qrcode_builds_the_same_symbol_as_qrcode():
    rng = random.Random(5)
    for _ in range(50):
        level = rng.choice(LEVELS)
        reference, fast = reference_and_fast(random_payload(rng, rng.randint(1, 150)), level)
        assert fast.version == reference.version
        assert fast.data_cache == reference.data_cache
        assert fast.modules == reference.modules
        # (best_mask_pattern leaves a scoring candidate in qrcode's .modules, so it comes last.)
        assert fast.best_mask_pattern() == reference.best_mask_pattern()


@pytest.mark.parametrize("length", [700, 1500])
def test_fast_qrcode_matches_qrcode_on_large_versions_with_version_information(length):
    reference, fast = reference_and_fast(random_payload(random.Random(length), length), qrcode.constants.ERROR_CORRECT_M)
    assert fast.version == reference.version >= 7
    assert fast.modules == reference.modules


def test_fast_qrcode_honours_a_fixed_mask_pattern_and_overflow():
    data = "https://grid.example.gov.cn/b/3kTMd2hZp8QvXy0aBcDeFg"
    for pattern in range(8):
        reference = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q, border=0, mask_pattern=pattern)
        reference.add_data(data)
        reference.make()
        fast = FastQRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q, border=0, mask_pattern=pattern)
        fast.add_data(data)
        fast.make()
        assert fast.modules == reference.modules
    too_long = FastQRCode(version=1, error_correction=qrcode.constants.ERROR_CORRECT_H)
    too_long.add_data("x" * 100)
    with pytest.raises(qrcode.exceptions.DataOverflowError):
        too_long.make(fit=False)
