"""Benchmark of qr.signs.write_signs_pdf: time, memory and size for N synthetic signs."""

import argparse
import os
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qr.codes import new_code  # noqa: E402
from qr.signs import Sign, SignContact, write_signs_pdf  # noqa: E402
from qr.urls import building_url  # noqa: E402

BASE_URL = "https://wgh.heze.gov.cn"
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英建国志红海燕玉梅"
STREETS = ("西城街道", "东城街道", "南城街道", "丹阳街道", "牡丹街道", "万福街道")
COMMUNITIES = ("和平", "幸福", "花园", "民主", "青年", "新华", "建设", "光明", "团结", "长安")
COMPOUNDS = ("和平小区", "锦绣花园", "阳光家园", "翡翠城", "金色港湾", "书香苑", "御景华庭", "世纪佳苑")
ROADS = ("和平路", "中华路", "人民路", "长江路", "黄河路", "解放大街", "双河路", "南京路")
DEPARTMENTS = (
    ("住建", ("房屋安全", "物业管理", "电梯故障")),
    ("城管", ("市容环境", "违章搭建", "占道经营", "垃圾清运")),
    ("卫健", ("卫生健康", "病媒防制")),
    ("应急", ("消防安全", "燃气泄漏")),
    ("市场监管", ("食品安全", "价格投诉")),
    ("供水", ("供水",)),
    ("供电", ("供电", "路灯")),
    ("燃气", ("燃气",)),
    ("热力", ("供暖",)),
)


def person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


def phone(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randint(0, 9)}****{rng.randint(0, 9999):04d}"


def synthetic_signs(count: int, seed: int = 7) -> Iterator[Sign]:
    """Yield `count` realistic signs one at a time (never a list)."""
    rng = random.Random(seed)
    for index in range(count):
        street = rng.choice(STREETS)
        community = rng.choice(COMMUNITIES) + "社区"
        compound = rng.choice(COMPOUNDS)
        contacts = [SignContact("网格员", person(rng), phone(rng))]
        for department, categories in rng.sample(DEPARTMENTS, rng.randint(3, 7)):
            picked = tuple(rng.sample(categories, rng.randint(1, len(categories))))
            contacts.append(SignContact(f"专业网格员（{department}）", person(rng), phone(rng), picked))
        yield Sign(
            building_name=f"{compound}{index % 40 + 1}号楼",
            address=f"山东省菏泽市牡丹区{street}{rng.choice(ROADS)}{rng.randint(1, 999)}号{compound}",
            community_name=community,
            grid_name=f"第{rng.randint(1, 30)}网格",
            url=building_url(BASE_URL, new_code()),
            contacts=tuple(contacts),
            street_name=street,
        )


def run(count: int, *, trace: bool) -> tuple[float, float, int, int, int]:
    """Write `count` signs to a temp file; return (wall seconds, CPU seconds, pages, bytes, traced peak)."""
    with tempfile.TemporaryFile() as out:
        if trace:
            tracemalloc.start()
        started, cpu_started = time.perf_counter(), time.process_time()
        pages = write_signs_pdf(synthetic_signs(count), out)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        peak = 0
        if trace:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        size = out.tell()
    return seconds, cpu_seconds, pages, size, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("count", nargs="?", type=int, default=10_000, help="number of signs (default 10000)")
    count = parser.parse_args().count
    small = max(1, count // 10)

    run(20, trace=False)  # warm caches (font metrics, QR tables) outside the measurements
    seconds, cpu_seconds, pages, size, _ = run(count, trace=False)
    max_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # before tracemalloc adds its own
    *_, peak_small = run(small, trace=True)
    *_, peak_full = run(count, trace=True)

    print(f"signs: {count}")
    print(f"seconds: {seconds:.1f}")
    print(f"cpu_seconds: {cpu_seconds:.1f}")
    print(f"pages_per_second: {pages / seconds:.0f}")
    print(f"file_size_mib: {size / 2**20:.1f}")
    print(f"bytes_per_page: {size / pages:.0f}")
    print(f"peak_traced_kib_at_{small}: {peak_small / 1024:.0f}")
    print(f"peak_traced_kib_at_{count}: {peak_full / 1024:.0f}")
    print(f"peak_ratio: {peak_full / peak_small:.2f}")
    print(f"max_rss_mib: {max_rss_kib / 1024:.0f}")
    print(f"cpus: {os.cpu_count()}")


if __name__ == "__main__":
    main()
