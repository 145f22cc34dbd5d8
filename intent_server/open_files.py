"""The open-file limit and the HTTP connection cap that must stay below it.

Every connection is a file descriptor. A process at its open-file limit cannot accept a
connection, open a model file or answer a health check, whatever asked for the files: with
the common limit of 1,024, 1,100 idle HTTP connections used to time out gRPC health and
classification and make a SIGHUP reload fail with "Too many open files". So at start the
soft limit is raised to the hard one (the hard limit is the administrator's; the soft one is
only a default), and HTTP connections are capped below it, leaving a quarter (at least 256,
at most half) for the server's own files and gRPC's connections.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)

MOST_AUTO_CONNECTIONS = 10_000
# A soft limit above this is not asked for, even when the hard limit is unlimited.
MOST_OPEN_FILES = 1 << 20


def raise_open_file_limit() -> int:
    """Raise the soft open-file limit to the hard one where allowed; the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = MOST_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, MOST_OPEN_FILES)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
            return soft
        log.info("open-file limit raised from %d to %d (the hard limit)", soft, target)
        return target
    return soft


def open_file_limit() -> int:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return MOST_OPEN_FILES if soft == resource.RLIM_INFINITY else soft


def connection_cap(configured: int, open_files: int) -> int:
    """HTTP connections allowed with `open_files` descriptors: `configured` (0 = auto, the
    most the limit leaves room for, at most MOST_AUTO_CONNECTIONS), never over that room."""
    room = max(1, open_files - min(max(256, open_files // 4), open_files // 2))
    if configured <= 0:
        return min(room, MOST_AUTO_CONNECTIONS)
    if configured > room:
        log.warning(
            "--http-max-connections %d is more than the open-file limit (%d) leaves room for "
            "after the server's own files: using %d (raise the limit: ulimit -n)",
            configured,
            open_files,
            room,
        )
        return room
    return configured
