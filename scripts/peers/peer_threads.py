"""The PyTorch peer at its best: its thread configurations tried in turn, and what its figures ran on.

PyTorch's own operators run on its intra-op threads (torch.set_num_threads, OpenMP here); its matrix
products run in the BLAS it was built with, Debian's OpenBLAS, whose own thread pool
torch.set_num_threads does not control. Which mix is fastest depends on the machine and the work
(on a 2-core machine, a training step of small products can be fastest with PyTorch on 1 thread and
OpenBLAS on 2), so a benchmark times each configuration and reports the fastest, with the others.

Both counts are set at run time (torch.set_num_threads, openblas_set_num_threads), so the
configurations take turns in one process: round after round, each timed once per round after one
untimed call under its new threads, so that other work on the machine falls on all of them alike.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which some machines set, must be unset in the peer's own
command (scripts/bench.ts does): OpenBLAS reads them once, when it loads.
"""

import ctypes
import statistics

import torch

# (PyTorch intra-op threads, BLAS threads).
ALL_CONFIGS = ((1, 1), (1, 2), (2, 1), (2, 2))


def parse_configs(text):
    """'all', 'N' (N PyTorch and N BLAS threads) or 'TxB,TxB,...' as a tuple of (torch, blas) pairs."""
    if text == "all":
        return ALL_CONFIGS
    if text.isdigit():
        return ((int(text), int(text)),)
    try:
        configs = tuple(tuple(int(n) for n in item.split("x")) for item in text.split(","))
    except ValueError:
        configs = ()
    if not configs or any(len(c) != 2 or min(c) < 1 for c in configs):
        raise SystemExit(f"--threads must be 'all', N, or TxB[,TxB...] (PyTorch x BLAS threads, from 1), got {text!r}")
    return configs


def _blas_library():
    """The BLAS that PyTorch loaded, as ctypes sees it: (path, CDLL) or (None, None)."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "blas" in line.split()[-1]}
    for path in sorted(paths):
        try:
            return path, ctypes.CDLL(path)
        except OSError:
            continue
    return None, None


_BLAS_PATH, _BLAS = _blas_library()


def _openblas(name, restype):
    function = getattr(_BLAS, name, None) if _BLAS is not None else None
    if function is not None:
        function.restype = restype
    return function


_SET_BLAS_THREADS = _openblas("openblas_set_num_threads", None)
_GET_BLAS_THREADS = _openblas("openblas_get_num_threads", ctypes.c_int)
_CORE_NAME = _openblas("openblas_get_corename", ctypes.c_char_p)
_CONFIG = _openblas("openblas_get_config", ctypes.c_char_p)


def blas_info():
    """The BLAS library and, for OpenBLAS, its build and the core kernels it chose on this CPU."""
    if _CONFIG is None:
        return {"blas": _BLAS_PATH or "unknown", "openblasCore": None}
    return {"blas": _CONFIG().decode(), "openblasCore": _CORE_NAME().decode(), "blasLibrary": _BLAS_PATH}


def set_threads(config):
    torch_threads, blas_threads = config
    torch.set_num_threads(torch_threads)
    if blas_threads > 1 and _SET_BLAS_THREADS is None:
        raise SystemExit(f"cannot set the BLAS threads of {_BLAS_PATH or 'an unknown BLAS'} (not OpenBLAS)")
    if _SET_BLAS_THREADS is not None:
        _SET_BLAS_THREADS(blas_threads)
        if _GET_BLAS_THREADS() != blas_threads:
            raise SystemExit(f"OpenBLAS runs {_GET_BLAS_THREADS()} threads, not the {blas_threads} asked for")


def threads_of(config):
    return {"torch": config[0], "blas": config[1]}


def fastest(configs, rounds, timed, untimed):
    """Times `timed()` (one repeat, returning its milliseconds) `rounds` times under each configuration.

    Round by round, each configuration in turn: its threads set, `untimed()` once, `timed()` once.
    Returns (the configuration of the lowest median, {configuration: [milliseconds of each round]}).
    """
    times = {config: [] for config in configs}
    for _ in range(rounds):
        for config in configs:
            set_threads(config)
            untimed()
            times[config].append(timed())
    best = min(configs, key=lambda config: statistics.median(times[config]))
    set_threads(best)
    return best, times


def record(best, times, figure, scale=1.0):
    """The fields a peer line adds: its fastest configuration, and each one's median `figure`.

    `scale` turns a repeat's milliseconds into the figure (1 / calls per repeat, for a per-call figure).
    """
    return {
        "threads": threads_of(best),
        "threadConfigs": [{**threads_of(config), figure: round(statistics.median(ms) * scale, 4)}
                          for config, ms in times.items()],
        **blas_info(),
    }
