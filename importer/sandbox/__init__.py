"""A local Kantata OX sandbox: a real HTTP server standing in for the API.

For demos, tests and rehearsals of an import. Faithful to the documented API
(``docs/kantata-api.md``): bearer-token auth, string ids in responses, ``results`` in the
server's sort order (newest first, never the request order), the documented errors shape, bulk
creates of up to 100 objects, default filters on users and workspaces, ``department_id``/
``geography_id`` only when included. Switches (``KNOB_SPECS``: config fields and runtime knobs)
select each behaviour the documentation leaves open and inject faults (rate limits, 503s before
or after commit, lost replies, late commits, a server that stops answering, a front proxy's size
limits, other clients writing meanwhile, a schedule of faults for the next writes, ...).

Never imported by the importer's normal path. Usage::

    with SandboxServer(SandboxConfig(rate=20, fail_rate=0.05, random_seed=1)) as sandbox:
        client = httpx.Client(base_url=sandbox.base_url,
                              headers={"Authorization": f"Bearer {sandbox.token}"})
        ...
        assert sandbox.counters.rate_limited > 0

or from a shell: ``importer sandbox --port 8765 --rate 10`` (or ``python -m importer.sandbox``).
"""

from __future__ import annotations

from importer.sandbox._command import sandbox_cmd
from importer.sandbox._knobs import (
    BULK_MODES,
    KNOB_NAMES,
    KNOB_SPECS,
    Counters,
    Knobs,
    KnobSpec,
    SandboxConfig,
)
from importer.sandbox._server import SandboxServer, serve_forever
from importer.sandbox._store import bundled_seed

__all__ = [
    "BULK_MODES",
    "KNOB_NAMES",
    "KNOB_SPECS",
    "Counters",
    "KnobSpec",
    "Knobs",
    "SandboxConfig",
    "SandboxServer",
    "bundled_seed",
    "sandbox_cmd",
    "serve_forever",
]
