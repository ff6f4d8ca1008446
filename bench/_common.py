"""What every benchmark's results file says about the machine it ran on (shared by bench/*/run.py)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def _first(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine_lines(*extra: str) -> list[str]:
    """Markdown bullet lines: host, CPU and cores, RAM, load average now, Python; then ``extra`` lines."""
    cpu = _first("/proc/cpuinfo", "model name") or "unknown CPU"
    mem_kb = _first("/proc/meminfo", "MemTotal")
    mem = f"{int(mem_kb.split()[0]) / 1024 / 1024:.1f} GiB RAM" if mem_kb else "RAM unknown"
    try:
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        load = "unknown"
    return [
        f"- host: {platform.node()}; uname: `{' '.join(platform.uname())}`",
        f"- CPU: {cpu}, {os.cpu_count()} cores; {mem}; load average when written: {load} (a shared machine)",
        f"- Python {platform.python_version()}",
        *(f"- {line}" for line in extra),
    ]


def append_section(path: Path, title: str, lines: list[str]) -> None:
    """Add a section to a results file (``title``: its first line when the file is new) and print it."""
    previous = path.read_text() if path.exists() else f"{title}\n\n"
    path.write_text(previous + "\n".join(lines) + "\n")
    print("\n".join(lines))
