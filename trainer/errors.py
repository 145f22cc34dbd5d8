"""Errors caused by the user (bad data, bad options): printed without a traceback, exit 2."""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix; the message says where and how."""

    exit_code = 2
