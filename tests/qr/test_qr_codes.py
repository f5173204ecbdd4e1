"""Tests of qr.codes: fresh codes are unguessable and URL-safe; garbage is rejected."""

import math
import string

from qr.codes import MAX_CODE_LENGTH, SCENE_ALPHABET, is_valid_code, new_code


def test_scene_alphabet_is_wechats():
    assert SCENE_ALPHABET == string.digits + string.ascii_uppercase + string.ascii_lowercase + "!#$&'()*+,/:;=?@-._~"
    assert len(set(SCENE_ALPHABET)) == len(SCENE_ALPHABET) == 62 + 20


def test_new_code_is_short_base62_and_valid():
    for _ in range(500):
        code = new_code()
        assert 0 < len(code) <= MAX_CODE_LENGTH
        assert set(code) <= set(string.digits + string.ascii_letters)
        assert is_valid_code(code)


def test_new_code_carries_at_least_96_random_bits():
    codes = [new_code() for _ in range(20_000)]
    assert {len(code) for code in codes} == {22}
    assert 22 * math.log2(62) >= 128
    assert len(set(codes)) == len(codes)
    # 128 bits in 22 base62 digits: the leading digit is 0-7, every other one spans the alphabet.
    assert {code[0] for code in codes} <= set("01234567")
    for position in range(1, 22):
        assert len({code[position] for code in codes[:2000]}) > 55


def test_is_valid_code_accepts_the_whole_scene_alphabet():
    assert is_valid_code("a")
    assert is_valid_code(SCENE_ALPHABET[:32])
    assert is_valid_code(SCENE_ALPHABET[-20:])
    assert is_valid_code("x" * 32)


def test_is_valid_code_rejects_garbage():
    for garbage in ["", "x" * 33, "中", "ab中", "%41", "a b", " ", "a\n", "a\tb", '"', "<>", "\\", "^", "|", "é"]:
        assert not is_valid_code(garbage), garbage
    for not_text in [None, 123, b"abc", ["abc"]]:
        assert not is_valid_code(not_text)
