"""``physnn serve``: a simulated device or a lab instrument served over HTTP until stopped."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from physnn.errors import ConfigError

if TYPE_CHECKING:
    from physnn.hardware.credentials import Credentials
    from physnn.hardware.device import Device


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the device until SIGINT or SIGTERM, then leave it in its safe state."""
    import contextlib
    import logging
    import signal

    from physnn.hardware.connections import ConnectionLimits
    from physnn.hardware.replies import MIB
    from physnn.hardware.server import DeviceServer, check_exposure, serve

    token = _token(args)
    check_exposure(args.host, token)  # before a lab instrument is touched
    if not args.max_request_mb > 0 or not args.lease_seconds > 0:
        raise ConfigError("--max-request-mb and --lease-seconds must be positive")
    limits = ConnectionLimits.given(vars(args))
    device = _served_device(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    server = DeviceServer(
        device,
        system_name=args.system,
        token=token,
        lease_seconds=args.lease_seconds,
        max_request_bytes=int(args.max_request_mb * MIB),
        write_log=args.write_log,
        log_max_bytes=int(args.write_log_mb * MIB),
        log_backups=args.write_log_backups,
    )
    # uvicorn stops gracefully on SIGINT/SIGTERM (device → safe state), then raises the signal
    # again: both end here as KeyboardInterrupt, with exit code 0.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        serve(server, args.host, args.port, limits)
    print("physnn serve: stopped; the device is in its safe state", file=sys.stderr)
    return 0


def _token(args: argparse.Namespace) -> str | Credentials | None:
    """The clients' credentials (--credentials), else the one token (--token-file or
    ``$PHYSNN_TOKEN``), else None."""
    from physnn.hardware.credentials import Credentials
    from physnn.hardware.protocol import resolve_token

    if args.credentials and args.token_file:
        raise ConfigError("give --credentials or --token-file, not both")
    if args.credentials:
        return Credentials.load(args.credentials)
    return resolve_token(token_file=args.token_file)


def _served_device(args: argparse.Namespace) -> Device:
    """The lab instrument behind --adapter, else the simulated --system."""
    if args.adapter:
        simulation = [f for f in ("preset", "gap", "seed") if getattr(args, f) is not None]
        simulation += ["-S"] * bool(args.system_option) + ["-G"] * bool(args.gap_option)
        if simulation:
            raise ConfigError(
                f"{', '.join(simulation)} configure a simulated device, not --adapter; pass the "
                "instrument's options as --adapter-option KEY=VALUE"
            )
        from physnn.hardware.adapter import load_instrument_device

        return load_instrument_device(args.adapter, dict(args.adapter_option))
    if not args.system:
        raise ConfigError("serve needs --system (a simulated device) or --adapter MODULE:CLASS")
    from physnn.hardware.simulated import simulated_device

    return simulated_device(
        args.system,
        preset=args.preset or "default",
        gap=args.gap or "moderate",
        seed=0 if args.seed is None else args.seed,
        system_options=dict(args.system_option),
        gap_options=dict(args.gap_option),
    )
