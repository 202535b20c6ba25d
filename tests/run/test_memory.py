"""The CLI's allocator setting (vlcp.run.memory): taken on glibc, off with its switch, and computing the same."""
import platform

import pytest

from vlcp.run import memory

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")


@glibc
def test_glibc_takes_the_settings():
    assert memory.keep_freed_memory({}) is True


def test_the_switch_turns_it_off(monkeypatch):
    calls = []
    monkeypatch.setattr(memory.ctypes, "CDLL", lambda name: calls.append(name))
    assert memory.keep_freed_memory({memory.OFF_SWITCH: "0"}) is False
    assert calls == []


def test_the_cli_entry_point_sets_it(monkeypatch):
    import vlcp.run.memory
    from vlcp.cli import main

    seen = []
    monkeypatch.setattr(vlcp.run.memory, "keep_freed_memory", lambda: seen.append(True))
    assert main(["--help"]) == 0
    assert seen == [True]


@glibc
def test_training_gives_the_same_numbers_with_it(tmp_path):
    """The same network trained in two processes, with and without the setting: the same loss bits."""
    import os
    import subprocess
    import sys

    code = ("import sys, torch; from vlcp.run.memory import keep_freed_memory; keep_freed_memory();"
            "g = torch.Generator().manual_seed(0); net = torch.nn.Sequential(torch.nn.Conv2d(1, 64, 3), torch.nn.ReLU(),"
            "torch.nn.Flatten(), torch.nn.Linear(64 * 26 * 26, 10)); [p.data.copy_(torch.randn(p.shape, generator=g) * 0.01)"
            " for p in net.parameters()]; opt = torch.optim.SGD(net.parameters(), 0.1); x = torch.randn(256, 1, 28, 28,"
            " generator=g); y = torch.randint(0, 10, (256,), generator=g)\n"
            "for _ in range(5):\n    opt.zero_grad(); loss = torch.nn.functional.cross_entropy(net(x), y); loss.backward();"
            " opt.step()\nprint(loss.item().hex())")
    out = {}
    for switch in ("1", "0"):
        env = {**os.environ, memory.OFF_SWITCH: switch, "OMP_NUM_THREADS": "1"}
        out[switch] = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                     check=True).stdout
    assert out["1"] == out["0"] and out["1"].strip()
